/* test-log.c - what a plain-text log line may hold: names escaped so that
 * none can forge a line. */
#include "build-config.h"

#include <stdlib.h>

#include "log.h"
#include "tap.h"

static void escapes(const char *in, const char *want, const char *name) {
        char *got = log_escape(in);

        is_str(got, want, name);
        free(got);
}

int main(void) {
        escapes("photo.jpg", "photo.jpg", "a plain name is left alone");
        escapes("y\nthumbwatch: stopped: made 0, failed 0.jpg", "y\\nthumbwatch: stopped: made 0, failed 0.jpg",
                "a newline is escaped: no forged line");
        escapes("a\tb\rc", "a\\tb\\rc", "tab and carriage return");
        escapes("\033[2Jclear", "\\x1b[2Jclear", "a terminal escape");
        escapes("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\xb7", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\xb7",
                "valid UTF-8 (2, 3 and 4 bytes) is kept");
        escapes("bad\xe9name", "bad\\xe9name", "a lone Latin-1 byte is escaped");
        escapes("\xc0\xaf", "\\xc0\\xaf", "an overlong form is escaped");
        escapes("\xed\xa0\x80", "\\xed\\xa0\\x80", "a surrogate is escaped");
        escapes("\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80", "past U+10FFFF is escaped");
        escapes("cut\xe2\x82", "cut\\xe2\\x82", "a sequence cut short is escaped");
        escapes("back\\slash", "back\\\\slash", "a backslash is doubled: escapes are unambiguous");
        escapes("del\x7f", "del\\x7f", "DEL");
        return done_testing();
}
