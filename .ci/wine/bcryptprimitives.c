/*
 * A stand-in for Windows' bcryptprimitives.dll under Debian's Wine 8, which lacks it.
 *
 * Rust's standard library for Windows takes its random bytes (HashMap seeds) from
 * ProcessPrng in bcryptprimitives.dll; a binary that imports a missing DLL does not load
 * (status c0000135). This DLL offers that one function on top of RtlGenRandom
 * (SystemFunction036 in advapi32), which Wine has. It is built and placed beside the test
 * binaries by .ci/wine-runner, for tests only: nothing shipped loads it.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG n = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (!SystemFunction036(data, n))
            return FALSE;
        data += n;
        len -= n;
    }
    return TRUE;
}
