/*
 * holder.exe: another Windows program holding a file open, for the Windows
 * suite (tests/windows/suite.py; built by scripts/test-windows with
 * x86_64-w64-mingw32-gcc). A user's Excel, an antivirus or an indexer
 * holds files of a dossier or of the backup folder this way.
 *
 *   holder.exe MODE FILE SECONDS [FLAG]
 *
 * MODE  noread    opened with no sharing at all (no read sharing): another
 *                 program's read of the file fails (sharing violation)
 *       nodelete  opened with read and write sharing but no delete sharing:
 *                 another program reads it, but cannot delete it nor rename
 *                 another file over it
 * Prints "ready" once the file is open, then holds it SECONDS seconds or
 * until FLAG exists, whichever comes first, closes it and prints
 * "released". Exit 0; 2 if the file could not be opened (with the error).
 */
#include <windows.h>
#include <stdio.h>
#include <wchar.h>
#include <stdlib.h>

int wmain(int argc, wchar_t **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: holder.exe noread|nodelete FILE SECONDS [FLAG]\n");
        return 2;
    }
    DWORD share;
    if (wcscmp(argv[1], L"noread") == 0)
        share = 0;
    else if (wcscmp(argv[1], L"nodelete") == 0)
        share = FILE_SHARE_READ | FILE_SHARE_WRITE;
    else {
        fprintf(stderr, "holder: unknown mode %ls\n", argv[1]);
        return 2;
    }
    HANDLE h = CreateFileW(argv[2], GENERIC_READ, share, NULL, OPEN_EXISTING,
                           FILE_ATTRIBUTE_NORMAL, NULL);
    if (h == INVALID_HANDLE_VALUE) {
        fprintf(stderr, "holder: cannot open %ls: error %lu\n", argv[2], GetLastError());
        return 2;
    }
    printf("ready\n");
    fflush(stdout);
    DWORD limit_ms = (DWORD)(_wtof(argv[3]) * 1000.0);
    DWORD start = GetTickCount();
    while (GetTickCount() - start < limit_ms) {
        if (argc > 4 && GetFileAttributesW(argv[4]) != INVALID_FILE_ATTRIBUTES)
            break;
        Sleep(20);
    }
    CloseHandle(h);
    printf("released\n");
    fflush(stdout);
    return 0;
}
