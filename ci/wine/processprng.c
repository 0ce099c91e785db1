/* A stand-in bcryptprimitives.dll for Wine builds that lack ProcessPrng, which Rust's standard
 * library on windows-gnu imports for its random seeds. It forwards to BCryptGenRandom. Built by
 * ci/wine-test.sh and placed next to the test executables; never shipped. */
#include <windows.h>
#include <bcrypt.h>

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG chunk = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (BCryptGenRandom(NULL, data, chunk, BCRYPT_USE_SYSTEM_PREFERRED_RNG) != 0)
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
