/*
 * TEST TOOLING ONLY: never shipped with svgauto, never part of its build.
 *
 * Why it exists: Rust's standard library (since 1.78) takes its random
 * numbers on Windows from ProcessPrng, imported from bcryptprimitives.dll.
 * Wine 8.0 (Debian 12's wine64) has no bcryptprimitives.dll, so no Rust
 * program starts under it: the loader refuses svgauto.exe before main.
 * Real Windows (8 and later, Server 2012 and later) has it; so does Wine 9.
 *
 * This DLL provides that single function from RtlGenRandom (advapi32's
 * SystemFunction036), which Wine 8 has. scripts/test-windows builds it
 * with x86_64-w64-mingw32-gcc -shared from bcryptprimitives.def and copies
 * it into the system32 of its private Wine prefix, only when that prefix
 * has no bcryptprimitives.dll of its own.
 */
#include <windows.h>
#include <ntsecapi.h> /* RtlGenRandom, that is SystemFunction036 */

/* Documented as always returning TRUE: a caller has no fallback. */
BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG n = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (!RtlGenRandom(data, n))
            return FALSE;
        data += n;
        len -= n;
    }
    return TRUE;
}
