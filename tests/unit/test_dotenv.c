/* test_dotenv.c - .env parsing by python-dotenv's rules. The expected values were checked
 * against python-dotenv 1.2.4 (DotEnv(path, interpolate=True, override=False).dict(),
 * which is what load_dotenv() uses). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "subsetter/dotenv.h"

/* Parses text that must be accepted; the caller releases *l. */
static void parse_ok(const char *text, sub_kvlist_t *l)
{
    sub_error_t err = {0};
    CHECK_OK(sub_dotenv_parse_string(text, "t.env", l, &err), &err);
}

/* Parses text that must be refused with exactly `msg`; returns how many keys were kept. */
static size_t parse_fails(const char *text, const char *msg)
{
    sub_kvlist_t l = SUB_KVLIST_INIT;
    sub_error_t err = {0};
    CHECK_FAILS(sub_dotenv_parse_string(text, "t.env", &l, &err), &err, SUB_E_CONFIG);
    CHECK_STR_EQ(err.msg, msg);
    size_t n = l.len;
    sub_kvlist_release(&l);
    return n;
}

/* The value text gives key (want NULL: none). */
static void check_value(const char *text, const char *key, const char *want)
{
    sub_kvlist_t l = SUB_KVLIST_INIT;
    parse_ok(text, &l);
    if (want)
        CHECK_STR_EQ(sub_kvlist_get(&l, key), want);
    else
        CHECK(sub_kvlist_get(&l, key) == NULL);
    sub_kvlist_release(&l);
}

static void test_unquoted(void)
{
    sub_kvlist_t l = SUB_KVLIST_INIT;
    parse_ok("A=1\n  B = two words  \nC=x=y\nD=a'b\"c\n", &l);
    CHECK_EQ(l.len, 4);
    CHECK_STR_EQ(l.items[0].key, "A");
    CHECK_STR_EQ(l.items[0].value, "1");
    CHECK_EQ(l.items[0].line, 1);
    CHECK_STR_EQ(l.items[1].key, "B");
    CHECK_STR_EQ(l.items[1].value, "two words");
    CHECK_EQ(l.items[1].line, 2);
    CHECK_STR_EQ(sub_kvlist_get(&l, "C"), "x=y");
    CHECK_STR_EQ(sub_kvlist_get(&l, "D"), "a'b\"c");
    sub_kvlist_release(&l);
    check_value("A\t=\tv\t\n", "A", "v");
    check_value("A=v", "A", "v"); /* no final newline */
}

static void test_later_key_wins(void)
{
    sub_kvlist_t l = SUB_KVLIST_INIT;
    parse_ok("A=1\nB=2\nA=3\n", &l);
    CHECK_EQ(l.len, 2);
    CHECK_STR_EQ(l.items[0].key, "A"); /* keeps its first position, as a dict does */
    CHECK_STR_EQ(l.items[0].value, "3");
    CHECK_EQ(l.items[0].line, 3);
    sub_kvlist_release(&l);
}

static void test_export(void)
{
    check_value("export A=1\n", "A", "1");
    check_value("export \t A=1\n", "A", "1");
    check_value("export 'A'=1\n", "A", "1");
    check_value("export=1\n", "export", "1"); /* no blank after it: a key */
    check_value("exportA=1\n", "exportA", "1");
    sub_kvlist_t l = SUB_KVLIST_INIT;
    parse_ok("export #just a comment\n", &l);
    CHECK_EQ(l.len, 0);
    sub_kvlist_release(&l);
    CHECK_EQ(parse_fails("export \n", "t.env:1: missing key"), 0);
}

static void test_comments(void)
{
    sub_kvlist_t l = SUB_KVLIST_INIT;
    parse_ok("# top\n  # indented\nA=1 # inline\nB=x#y\nC= #only a comment\nD=#v\n"
             "E=a\t#tab\nF=a  b # c # d\n#G=1\n",
             &l);
    CHECK_EQ(l.len, 6);
    CHECK_STR_EQ(sub_kvlist_get(&l, "A"), "1");
    CHECK_STR_EQ(sub_kvlist_get(&l, "B"), "x#y"); /* '#' only after whitespace */
    CHECK_STR_EQ(sub_kvlist_get(&l, "C"), "");
    CHECK_STR_EQ(sub_kvlist_get(&l, "D"), "#v"); /* no blank after '=': part of the value */
    CHECK_STR_EQ(sub_kvlist_get(&l, "E"), "a");
    CHECK_STR_EQ(sub_kvlist_get(&l, "F"), "a  b");
    CHECK(sub_kvlist_get(&l, "G") == NULL);
    sub_kvlist_release(&l);
    check_value("A=\"x # y\" # z\n", "A", "x # y");
    check_value("A='x # y'#z\n", "A", "x # y");
    check_value("A#b=1\n", "A", NULL); /* key "A" then a comment: bare, no value */
}

static void test_double_quotes(void)
{
    check_value("A=\"  spaced  \"\n", "A", "  spaced  ");
    check_value("A=\"\\\\ \\' \\\" \\a \\b \\f \\n \\r \\t \\v\"\n", "A",
                "\\ ' \" \a \b \f \n \r \t \v");
    /* Other backslash pairs are kept as written. */
    check_value("A=\"\\x41 \\$ \\u00e9 \\0\"\n", "A", "\\x41 \\$ \\u00e9 \\0");
    check_value("A=\"\\\\\"\n", "A", "\\");
    check_value("A=\"\"\n", "A", "");
    /* Escapes are not decoded outside quotes. */
    check_value("A=a\\nb\n", "A", "a\\nb");
}

static void test_single_quotes(void)
{
    check_value("A='a\\'b \\\\ \\n \\\" \\t'\n", "A", "a'b \\ \\n \\\" \\t");
    check_value("A=''\n", "A", "");
    check_value("A='  x  '  \n", "A", "  x  ");
}

static void test_quoted_keys(void)
{
    sub_kvlist_t l = SUB_KVLIST_INIT;
    parse_ok("'my key'=1\n'A=B'=2\nC=${A=B}\n", &l);
    CHECK_STR_EQ(sub_kvlist_get(&l, "my key"), "1");
    CHECK_STR_EQ(sub_kvlist_get(&l, "A=B"), "2");
    CHECK_STR_EQ(sub_kvlist_get(&l, "C"), "2");
    sub_kvlist_release(&l);
}

static void test_multiline(void)
{
    sub_kvlist_t l = SUB_KVLIST_INIT;
    parse_ok("A=\"first\nsecond\n\"\nB='x\n\ny'\nC=3\n", &l);
    CHECK_STR_EQ(sub_kvlist_get(&l, "A"), "first\nsecond\n");
    CHECK_STR_EQ(sub_kvlist_get(&l, "B"), "x\n\ny");
    CHECK_EQ(sub_kvlist_find(&l, "B")->line, 4);
    CHECK_EQ(sub_kvlist_find(&l, "C")->line, 7); /* lines inside values are counted */
    sub_kvlist_release(&l);
}

static void test_crlf(void)
{
    sub_kvlist_t l = SUB_KVLIST_INIT;
    parse_ok("A=1\r\nB=\"x\r\ny\"\r\nC=3 # c\r\nD='\r'\rE=5\r\n", &l);
    CHECK_EQ(l.len, 5);
    CHECK_STR_EQ(sub_kvlist_get(&l, "A"), "1");
    CHECK_STR_EQ(sub_kvlist_get(&l, "B"), "x\ny"); /* read as Python's open() reads it */
    CHECK_STR_EQ(sub_kvlist_get(&l, "C"), "3");
    CHECK_STR_EQ(sub_kvlist_get(&l, "D"), "\n");
    CHECK_STR_EQ(sub_kvlist_get(&l, "E"), "5");
    CHECK_EQ(sub_kvlist_find(&l, "E")->line, 7);
    sub_kvlist_release(&l);
    check_value("\xef\xbb\xbf"
                "A=1\n",
                "A", "1"); /* a UTF-8 BOM is dropped */
}

static void test_utf8(void)
{
    check_value("A=h\xc3\xa9llo \xe6\x97\xa5\xe6\x9c\xac # c\n", "A",
                "h\xc3\xa9llo \xe6\x97\xa5\xe6\x9c\xac");
    check_value("A='\xf0\x9f\x98\x80'\n", "A", "\xf0\x9f\x98\x80");
    /* Non-ASCII spaces are whitespace, as str.isspace() says: NO-BREAK SPACE, EM SPACE. */
    check_value("A=x\xc2\xa0#c\n", "A", "x");
    check_value("A=x\xe2\x80\x83\n", "A", "x");
    check_value("\xe3\x80\x80"
                "A\xc2\xa0=1\n",
                "A", "1");
    CHECK_EQ(parse_fails("A=1\nB=\xff\n", "t.env:2: invalid UTF-8"), 0);
    CHECK_EQ(parse_fails("A=\xc0\xaf\n", "t.env:1: invalid UTF-8"), 0);     /* overlong */
    CHECK_EQ(parse_fails("A=\xed\xa0\x80\n", "t.env:1: invalid UTF-8"), 0); /* surrogate */
}

static void test_empty_values(void)
{
    sub_kvlist_t l = SUB_KVLIST_INIT;
    parse_ok("A=\nB=   \nC=\"\"\nD=''\n", &l);
    CHECK_EQ(l.len, 4);
    for (size_t i = 0; i < l.len; i++)
        CHECK_STR_EQ(l.items[i].value, "");
    sub_kvlist_release(&l);
    parse_ok("", &l);
    parse_ok("\n \t\n\n", &l);
    CHECK_EQ(l.len, 0);
    sub_kvlist_release(&l);
}

static void test_interpolation(void)
{
    setenv("SUB_T_ENV", "fromenv", 1);
    setenv("SUB_T_EMPTY", "", 1);
    unsetenv("SUB_T_UNSET");
    sub_kvlist_t l = SUB_KVLIST_INIT;
    parse_ok("A=${SUB_T_ENV}/x\n"
             "B=${SUB_T_UNSET:-dflt}\n"
             "C=${SUB_T_UNSET}\n"
             "D=${SUB_T_EMPTY:-dflt}\n"
             "E=pre-${A}-post\n"
             "F=\"${SUB_T_ENV}\"\n"
             "G='${SUB_T_ENV}'\n"
             "H=$SUB_T_ENV ${SUB_T_UNSET:-}\n"
             "I=${SUB_T_UNSET:-a:-b}\n"
             "J=${SUB_T_UNSET:-${A}}\n"
             "K=${SUB_T_ENV:x} ${} ${SUB_T_ENV\n"
             "L=\"\\${SUB_T_ENV}\"\n"
             "M=${LATER}\n"
             "LATER=1\n",
             &l);
    CHECK_STR_EQ(sub_kvlist_get(&l, "A"), "fromenv/x");
    CHECK_STR_EQ(sub_kvlist_get(&l, "B"), "dflt");
    CHECK_STR_EQ(sub_kvlist_get(&l, "C"), "");
    CHECK_STR_EQ(sub_kvlist_get(&l, "D"), ""); /* defined, though empty: no default */
    CHECK_STR_EQ(sub_kvlist_get(&l, "E"), "pre-fromenv/x-post");
    CHECK_STR_EQ(sub_kvlist_get(&l, "F"), "fromenv");
    CHECK_STR_EQ(sub_kvlist_get(&l, "G"), "fromenv"); /* single quotes expand too */
    CHECK_STR_EQ(sub_kvlist_get(&l, "H"), "$SUB_T_ENV ");
    CHECK_STR_EQ(sub_kvlist_get(&l, "I"), "a:-b");
    CHECK_STR_EQ(sub_kvlist_get(&l, "J"), "${A}"); /* "${A" as the default, then "}" */
    CHECK_STR_EQ(sub_kvlist_get(&l, "K"), "${SUB_T_ENV:x}  ${SUB_T_ENV");
    CHECK_STR_EQ(sub_kvlist_get(&l, "L"), "\\fromenv");
    CHECK_STR_EQ(sub_kvlist_get(&l, "M"), ""); /* only earlier keys */
    sub_kvlist_release(&l);
    unsetenv("SUB_T_ENV");
    unsetenv("SUB_T_EMPTY");
}

/* load_dotenv(override=False)'s order: the environment, then earlier keys of the file. */
static void test_interpolation_env_first(void)
{
    setenv("SUB_T_BOTH", "env", 1);
    sub_kvlist_t l = SUB_KVLIST_INIT;
    parse_ok("SUB_T_BOTH=file\nX=${SUB_T_BOTH}\nSUB_T_ONLY=file\nY=${SUB_T_ONLY:-d}\n", &l);
    CHECK_STR_EQ(sub_kvlist_get(&l, "SUB_T_BOTH"), "file");
    CHECK_STR_EQ(sub_kvlist_get(&l, "X"), "env");
    CHECK_STR_EQ(sub_kvlist_get(&l, "Y"), "file");
    sub_kvlist_release(&l);
    unsetenv("SUB_T_BOTH");
}

/* Values that refer to each other cannot grow past the cap. */
static void test_interpolation_cap(void)
{
    sub_buf_t b = SUB_BUF_INIT;
    sub_buf_appendf(&b, NULL, "A=%0512d\n", 0);
    char prev = 'A';
    for (char k = 'B'; k <= 'M'; k++, prev++)
        sub_buf_appendf(&b, NULL, "%c=${%c}${%c}${%c}${%c}\n", k, prev, prev, prev, prev);
    /* A is 512 bytes, B 2 KiB, ... F 512 KiB, G 2 MiB. */
    CHECK_EQ(parse_fails(b.data, "t.env:7: value of 'G' is over 1048576 bytes once ${...} "
                                 "are expanded"),
             6);
    sub_buf_release(&b);
}

static void test_bare_key(void)
{
    sub_kvlist_t l = SUB_KVLIST_INIT;
    sub_kvlist_set(&l, "KEEP", "before", 0);
    sub_kvlist_set(&l, "KEEP2", "before", 0);
    unsetenv("SUB_T_BARE");
    parse_ok("SUB_T_BARE\nB=${SUB_T_BARE:-dflt}\nKEEP\nC=1\nC\nD=2\nD\nD=3\nexport\n"
             "KEEP2=new\nKEEP2\n",
             &l);
    CHECK(sub_kvlist_get(&l, "SUB_T_BARE") == NULL);
    CHECK_STR_EQ(sub_kvlist_get(&l, "B"), "");          /* python-dotenv's None: no default */
    CHECK_STR_EQ(sub_kvlist_get(&l, "KEEP"), "before"); /* not set by this text */
    CHECK(sub_kvlist_get(&l, "C") == NULL); /* a later bare KEY drops the earlier value */
    CHECK_STR_EQ(sub_kvlist_get(&l, "D"), "3");
    CHECK(sub_kvlist_get(&l, "export") == NULL);
    CHECK(sub_kvlist_get(&l, "KEEP2") == NULL);
    CHECK_EQ(l.len, 3);
    sub_kvlist_release(&l);
    setenv("SUB_T_BARE", "env", 1);
    check_value("SUB_T_BARE\nB=${SUB_T_BARE:-dflt}\n", "B", "env");
    unsetenv("SUB_T_BARE");
}

static void test_malformed(void)
{
    CHECK_EQ(
        parse_fails("A=1\n\n\nB=\"x\nC=2\n", "t.env:4: unterminated double-quoted value for 'B'"),
        1);
    CHECK_EQ(parse_fails("A='x", "t.env:1: unterminated single-quoted value for 'A'"), 0);
    CHECK_EQ(parse_fails("A=\"x\\\"", "t.env:1: unterminated double-quoted value for 'A'"), 0);
    CHECK_EQ(parse_fails("A=1\nB=\"x\" y\n", "t.env:2: unexpected text after the closing quote "
                                             "of 'B'"),
             1);
    CHECK_EQ(parse_fails("A=\"x\"\"y\"\n", "t.env:1: unexpected text after the closing quote "
                                           "of 'A'"),
             0);
    CHECK_EQ(parse_fails("A B\n", "t.env:1: expected '=' after 'A'"), 0);
    CHECK_EQ(parse_fails("A=1\n=2\n", "t.env:2: missing key before '='"), 1);
    CHECK_EQ(parse_fails("''=1\n", "t.env:1: empty quoted key"), 0);
    CHECK_EQ(parse_fails("'A=1\n", "t.env:1: unterminated quoted key"), 0);
}

static void test_file(void)
{
    char *dir = sub_test_tmpdir();
    char *path = sub_test_write_file(dir, ".env", "export A=1\nB=\"two\"\n");
    sub_kvlist_t l = SUB_KVLIST_INIT;
    sub_error_t err = {0};
    CHECK_OK(sub_dotenv_parse_file(path, true, &l, &err), &err);
    CHECK_EQ(l.len, 2);
    CHECK_STR_EQ(sub_kvlist_get(&l, "A"), "1");
    CHECK_STR_EQ(sub_kvlist_get(&l, "B"), "two");
    sub_kvlist_release(&l);
    /* Messages name the file. */
    char *bad = sub_test_write_file(dir, "bad.env", "A=1\nB='open\n");
    CHECK_FAILS(sub_dotenv_parse_file(bad, true, &l, &err), &err, SUB_E_CONFIG);
    char *want = sub_xasprintf("%s:2: unterminated single-quoted value for 'B'", bad);
    CHECK_STR_EQ(err.msg, want);
    CHECK_STR_EQ(sub_kvlist_get(&l, "A"), "1"); /* what came before the bad line */
    sub_kvlist_release(&l);
    unlink(path);
    unlink(bad);
    rmdir(dir);
    free(want);
    free(bad);
    free(path);
    free(dir);
}

static void test_file_missing(void)
{
    char *dir = sub_test_tmpdir();
    char *path = sub_path_join(dir, "none.env");
    sub_kvlist_t l = SUB_KVLIST_INIT;
    sub_kvlist_set(&l, "X", "kept", 0);
    sub_error_t err = {0};
    CHECK_OK(sub_dotenv_parse_file(path, false, &l, &err), &err);
    CHECK_EQ(l.len, 1);
    CHECK_FAILS(sub_dotenv_parse_file(path, true, &l, &err), &err, SUB_E_CONFIG);
    char *want = sub_xasprintf("%s: No such file or directory", path);
    CHECK_STR_EQ(err.msg, want);
    /* A directory (say, a virtualenv named .env) counts as missing, as in python-dotenv. */
    CHECK_OK(sub_dotenv_parse_file(dir, false, &l, &err), &err);
    CHECK_FAILS(sub_dotenv_parse_file(dir, true, &l, &err), &err, SUB_E_CONFIG);
    free(want);
    want = sub_xasprintf("%s: is a directory", dir);
    CHECK_STR_EQ(err.msg, want);
    CHECK_EQ(l.len, 1);
    CHECK_OK(sub_dotenv_parse_file(path, false, &l, NULL), &err); /* NULL err is allowed */
    sub_kvlist_release(&l);
    rmdir(dir);
    free(want);
    free(path);
    free(dir);
}

static void test_file_oversize(void)
{
    char *dir = sub_test_tmpdir();
    /* Exactly the cap is accepted; one byte more is refused. */
    char *text = sub_xmalloc((size_t)SUB_DOTENV_MAX_BYTES + 2);
    memset(text, '#', (size_t)SUB_DOTENV_MAX_BYTES + 1);
    memcpy(text, "A=1\n", 4);
    text[SUB_DOTENV_MAX_BYTES] = '\0';
    char *fits = sub_test_write_file(dir, "fits.env", text);
    text[SUB_DOTENV_MAX_BYTES] = '#';
    text[SUB_DOTENV_MAX_BYTES + 1] = '\0';
    char *big = sub_test_write_file(dir, "big.env", text);
    sub_kvlist_t l = SUB_KVLIST_INIT;
    sub_error_t err = {0};
    CHECK_OK(sub_dotenv_parse_file(fits, true, &l, &err), &err);
    CHECK_STR_EQ(sub_kvlist_get(&l, "A"), "1");
    sub_kvlist_release(&l);
    CHECK_FAILS(sub_dotenv_parse_file(big, true, &l, &err), &err, SUB_E_CONFIG);
    char *want = sub_xasprintf("%s: larger than 1048576 bytes", big);
    CHECK_STR_EQ(err.msg, want);
    CHECK_EQ(l.len, 0);
    CHECK_FAILS(sub_dotenv_parse_string(text, "s", &l, &err), &err, SUB_E_CONFIG);
    CHECK_STR_EQ(err.msg, "s: larger than 1048576 bytes");
    unlink(fits);
    unlink(big);
    rmdir(dir);
    free(want);
    free(big);
    free(fits);
    free(text);
    free(dir);
}

static void test_file_nul(void)
{
    char *dir = sub_test_tmpdir();
    char *path = sub_path_join(dir, "nul.env");
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    fwrite("A=1\nB=x\0y\n", 1, 10, f);
    fclose(f);
    sub_kvlist_t l = SUB_KVLIST_INIT;
    sub_error_t err = {0};
    CHECK_FAILS(sub_dotenv_parse_file(path, true, &l, &err), &err, SUB_E_CONFIG);
    char *want = sub_xasprintf("%s: contains a NUL byte", path);
    CHECK_STR_EQ(err.msg, want);
    CHECK_EQ(l.len, 0);
    unlink(path);
    rmdir(dir);
    free(want);
    free(path);
    free(dir);
}

sub_test_t tests[] = {
    {"unquoted", test_unquoted},
    {"later_key_wins", test_later_key_wins},
    {"export", test_export},
    {"comments", test_comments},
    {"double_quotes", test_double_quotes},
    {"single_quotes", test_single_quotes},
    {"quoted_keys", test_quoted_keys},
    {"multiline", test_multiline},
    {"crlf", test_crlf},
    {"utf8", test_utf8},
    {"empty_values", test_empty_values},
    {"interpolation", test_interpolation},
    {"interpolation_env_first", test_interpolation_env_first},
    {"interpolation_cap", test_interpolation_cap},
    {"bare_key", test_bare_key},
    {"malformed", test_malformed},
    {"file", test_file},
    {"file_missing", test_file_missing},
    {"file_oversize", test_file_oversize},
    {"file_nul", test_file_nul},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return sub_test_main(argc, argv, tests);
}
