#!/usr/bin/python3
"""usage: freedesktop-lookup.py CACHE_DIR FILE_PATH MTIME
  CACHE_DIR  used as $XDG_CACHE_HOME (the folder holding thumbnails/normal/)
  FILE_PATH  path of the original file (any bytes; made absolute)
  MTIME      integer seconds, or '-' for int(os.stat(FILE_PATH).st_mtime)
Prints the found thumbnail path or 'none'; exit 0 found, 1 not, 2 usage."""
import os, sys
def main(argv):
    if len(argv) != 4:
        sys.stderr.write(__doc__); return 2
    cache_dir = os.path.abspath(argv[1])
    path = os.path.abspath(os.fsencode(argv[2]))
    mtime = int(os.stat(path).st_mtime) if argv[3] == "-" else int(argv[3])
    os.environ["XDG_CACHE_HOME"] = cache_dir
    os.environ["GSETTINGS_BACKEND"] = "memory"
    import gi
    gi.require_version("GnomeDesktop", "4.0")
    from gi.repository import GLib, GnomeDesktop
    uri = GLib.filename_to_uri(path, None)
    factory = GnomeDesktop.DesktopThumbnailFactory.new(GnomeDesktop.DesktopThumbnailSize.NORMAL)
    found = factory.lookup(uri, mtime)
    print(found if found else "none")
    return 0 if found else 1
if __name__ == "__main__":
    sys.exit(main(sys.argv))
