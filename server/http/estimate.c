#include "http/estimate.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wire/fastjson.h"
#include "wire/json_writer.h"

/* A request whose shapes cannot be read (or break a limit) is estimated as
 * this many times its length plus a little: the parse and the problem answer
 * are of the text's order. */
#define TEXT_FACTOR 3.0
#define BASE_BYTES 65536.0
/* Bytes an answer's text takes per number at most, separator included:
 * "-1.17549435e-38," for float32, 25 for float64's 17 digits. The writer
 * holds the answer in chunks that are never copied to grow
 * (wire/json_writer.h), so the answer is its bytes once, and the room
 * allocated past them: under their length (the first chunk at most doubles)
 * and at most JW_SLACK. */
#define ANSWER_BYTES_PER_NUMBER(elem) ((elem) == 4 ? 16.0 : 25.0)
/* Bytes a number read from text takes: one double in fastjson's pool
 * (wire/fastjson.c). The pool is sized once when it would reach a mapping's
 * size, from the separators left in the text (one per number, and one per
 * row: 1/784 more for a 784-input row), so it holds no outgrown copies (when
 * it doubled, the outgrown ones stayed in the cache of mappings until the
 * request ended: 3 doubles a number, this constant was 24). */
#define TEXT_NUMBER_BYTES 8.0
/* Bytes jansson takes per value of a tensor that fastjson leaves to it (one
 * not rectangular, or holding anything but numbers, wire/fastjson.h): a node
 * (a 24-byte json_real or json_integer, a 32-byte malloc block) and its slot
 * in the array's table (8 bytes, a table up to twice its length while it
 * grows, and the outgrown one beside it while copied). Such a request is
 * refused by the decode (400, naming the element), so the pass and the answer
 * counted for it never happen; the tree and the skeleton do. */
#define JANSSON_VALUE_BYTES 48.0

/* fastjson reads no tensor of a body nested deeper than 64 levels anywhere
 * (wire/fastjson.c, MAX_DEPTH): jansson then parses all of it, a node a
 * number. The members read here are at most 6 levels down, so a value that
 * nests DEEP levels within one of them may pass those 64. */
#define DEEP 56

typedef struct {
    const char *p, *e;
    int deep;   /* a value nested DEEP levels was skipped */
    int marker; /* an integer fastjson could not tell from its markers, outside
                   the tensors it packs (marker_like_in) */
} cursor;

/* Which bytes end a run that a container scan can skip at once: at the
 * outer level commas too (they count elements), deeper only brackets, braces
 * and quotes. */
static unsigned char special[256], structural[256];
/* What a byte is inside a tensor written as numbers (count_commas). */
enum { IN_NUMBER, COMMA, STRUCTURAL, NOT_IN_NUMBER };
static unsigned char in_tensor[256];
static void init_special(void)
{
    structural['"'] = structural['['] = structural[']'] = structural['{'] = structural['}'] = 1;
    memcpy(special, structural, sizeof special);
    special[','] = 1;
    for (unsigned ch = 0; ch < 256; ch++)
        in_tensor[ch] = structural[ch]                           ? STRUCTURAL
                        : ch == ','                              ? COMMA
                        : (ch & 0x40) && ch != 'e' && ch != 'E' ? NOT_IN_NUMBER
                                                                 : IN_NUMBER;
}

/* The first of [ ] { } " at or after p, or e. Eight bytes at a time: the
 * numbers of a nested tensor hold none of them, and a 29 MB body scanned a
 * byte at a time held the event loop for 98 ms. */
static const char *next_structural(const char *p, const char *e)
{
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    while (e - p >= 8) {
        uint64_t x;
        memcpy(&x, p, 8);
        uint64_t folded = x | 0x2020202020202020ull; /* '[' -> '{', ']' -> '}' */
        uint64_t open = folded ^ (0x7b * ones), close = folded ^ (0x7d * ones),
                 quote = x ^ (0x22 * ones);
        uint64_t zero = ((open - ones) & ~open) | ((close - ones) & ~close) |
                        ((quote - ones) & ~quote);
        if (zero & highs) break;
        p += 8;
    }
    while (p < e && !structural[(unsigned char)*p]) p++;
    return p;
}

static void skip_ws(cursor *c)
{
    while (c->p < c->e && (*c->p == ' ' || *c->p == '\n' || *c->p == '\r' || *c->p == '\t'))
        c->p++;
}

/* At '"': past the closing quote. 0 when the text ends first. */
static int skip_string(cursor *c)
{
    for (c->p++; c->p < c->e; c->p++) {
        const char *q = memchr(c->p, '"', (size_t)(c->e - c->p));
        if (!q) break;
        size_t backslashes = 0;
        while (q - backslashes > c->p && q[-1 - (ptrdiff_t)backslashes] == '\\') backslashes++;
        c->p = q;
        if (backslashes % 2 == 0) {
            c->p++;
            return 1;
        }
    }
    c->p = c->e;
    return 0;
}

/* Counts the ',' from p up to the first of [ ] { } " (returned; e when none):
 * the first 16 bytes one at a time (a small tensor's rows end sooner), then
 * 16 at a time while none of them is a quote or has bit 0x40 but e and E
 * (letters, brackets and braces have it; digits, signs, '.', ',' and blanks
 * have not), in a vector of byte counters added up before any can wrap, as
 * fastjson's separators. *odd is set by a letter other than e or E: a
 * literal (true, false, null), which no number holds. */
static const char *count_commas(const char *p, const char *e, size_t *commas, int *odd)
{
    typedef unsigned char bytes16 __attribute__((vector_size(16)));
    size_t n = 0;
    for (;;) {
        const char *stop = e - p > 16 ? p + 16 : e;
        for (; p < stop; p++) {
            unsigned kind = in_tensor[(unsigned char)*p];
            if (kind == IN_NUMBER) continue;
            if (kind == COMMA) n++;
            else if (kind == STRUCTURAL) goto done;
            else *odd = 1;
        }
        if (p >= e) break;
        bytes16 seen = {0};
        unsigned blocks = 0;
        while (e - p >= 16 && blocks < 255) {
            bytes16 v;
            memcpy(&v, p, sizeof v);
            bytes16 other = (bytes16)(((v & 0x40) != 0) & ((v | 0x20) != 'e')) |
                            (bytes16)(v == '"');
            uint64_t halves[2];
            memcpy(halves, &other, sizeof halves);
            if (halves[0] | halves[1]) break;
            seen -= (bytes16)(v == ','); /* each match is -1 */
            p += 16;
            blocks++;
        }
        if (blocks)
            for (unsigned i = 0; i < sizeof seen; i++) n += seen[i];
    }
done:
    *commas += n;
    return p;
}

/* 1 when [p, e) holds, outside its strings, an integer token of
 * FJ_MARK_DIGITS characters or more (a '-' counted): fastjson then packs
 * nothing, as the codec could take it for a marker (wire/fastjson.h), and
 * jansson reads every number of the body, a node each. Tokens end where
 * fastjson's do. Run over the text this file skips or reads as values, not
 * over the tensors fastjson packs (their numbers never reach the skeleton). */
static int marker_like_in(const char *p, const char *e)
{
    while (p < e) {
        char ch = *p;
        if (ch == '"') {
            cursor s = {p, e, 0, 0};
            if (!skip_string(&s)) return 0;
            p = s.p;
        } else if (ch == '-' || (ch >= '0' && ch <= '9')) {
            const char *token = p;
            int integer = 1;
            for (p++; p < e && !strchr(",]} \n\r\t", *p); p++)
                integer &= *p >= '0' && *p <= '9';
            if (integer && p - token >= FJ_MARK_DIGITS) return 1;
        } else {
            p++;
        }
    }
    return 0;
}

/* A tensor written as numbers, as its text holds it. */
typedef struct {
    double rows;    /* members of its first level */
    double numbers; /* members of its innermost level (rows x columns when rectangular) */
    double values;  /* values at every level, its own array too: jansson's nodes */
    double chars;   /* characters of the strings in it (jansson copies them) */
    int packed;     /* fastjson reads it into doubles (fastjson.c, try_pack): rank 1
                       (or 2 unless flat), non-empty rows of one length, numbers only */
} text_tensor;

static int is_blank(char ch) { return ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t'; }

/* At the '[' of a tensor written as numbers: reads it into t, c left after
 * it; 0 on malformed text. One pass, 16 bytes at a time between brackets
 * (count_commas): a 29 MB nested body's shapes, counts and whether fastjson
 * will pack them cost the event loop half the instructions that skipping
 * them 8 bytes at a time did (callgrind: 55 against 103 million). */
static int read_text_tensor(cursor *c, int flat, text_tensor *t)
{
    const char *p = c->p + 1, *e = c->e;
    while (p < e && is_blank(*p)) p++;
    int rank = p < e && *p == '[' ? 2 : 1, packed = !(flat && rank == 2), odd = 0;
    size_t depth = 1, commas = 0, level[3] = {0, 0, 0}, arrays = 1, rows_seen = 0;
    size_t width = 0, numbers = 0, chars = 0;
    if (p < e && *p == ']') { /* empty: the decode names it, nothing to pack */
        c->p = p + 1;
        *t = (text_tensor){0, 0, 1, 0, 0};
        return 1;
    }
    for (;;) {
        size_t n = 0;
        p = count_commas(p, e, &n, &odd);
        commas += n;
        if (depth <= 2) level[depth] += n;
        if (p >= e) return 0;
        char ch = *p;
        if (ch == '"') {
            cursor s = {p, e, 0, 0};
            if (!skip_string(&s)) return 0;
            chars += (size_t)(s.p - p);
            p = s.p;
            packed = 0;
            continue;
        }
        p++;
        if (ch == '[' || ch == '{') {
            arrays++;
            if (++depth == DEEP) c->deep = 1;
            if (ch == '{' || depth > (size_t)rank) packed = 0;
            if (depth == 2) level[2] = 0;
            while (p < e && is_blank(*p)) p++;
            if (p < e && *p == ']') packed = 0; /* an empty row */
            continue;
        }
        if (depth == 2 && rank == 2) { /* a row ends: its members against the first row's */
            size_t members = level[2] + 1;
            if (rows_seen++ == 0) width = members;
            else if (members != width) packed = 0;
            numbers += members;
        }
        if (--depth == 0) break;
    }
    size_t rows = level[1] + 1;
    if (rank == 1) numbers = rows;
    else if (rows_seen != rows) packed = 0; /* a number beside the rows */
    if (!(packed && !odd) && !c->marker) c->marker = marker_like_in(c->p, p); /* left in the skeleton */
    c->p = p;
    *t = (text_tensor){(double)rows, (double)numbers, (double)(commas + 2 * arrays),
                       (double)chars, packed && !odd};
    return 1;
}

/* Skips one value; *elements (when given) counts the members of the array
 * it starts, at its own level only. 0 on malformed text. */
static int skip_value(cursor *c, size_t *elements)
{
    skip_ws(c);
    if (c->p >= c->e) return 0;
    if (*c->p == '"') return skip_string(c);
    const char *start = c->p;
    if (*c->p != '[' && *c->p != '{') {
        while (c->p < c->e && !special[(unsigned char)*c->p] && *c->p != ' ' &&
               *c->p != '\n' && *c->p != '\r' && *c->p != '\t')
            c->p++;
        /* a value of no characters (a ':' or '}' where a value goes) is
         * malformed: taken for one, the loops over a list's values would
         * not move past it (read_layers spun forever on "layers": ["units": 2]) */
        if (c->p == start) return 0;
        if (!c->marker) c->marker = marker_like_in(start, c->p);
        return 1;
    }
    int counting = elements && *c->p == '[';
    size_t depth = 0, n = 0, empty = 1;
    for (; c->p < c->e;) {
        if (depth > 1) {
            c->p = next_structural(c->p, c->e);
            if (c->p >= c->e) break;
        }
        unsigned char ch = (unsigned char)*c->p;
        if (!special[ch]) {
            if (depth == 1 && ch > ' ') empty = 0;
            c->p++;
            continue;
        }
        if (ch == '"') {
            if (depth == 1) empty = 0;
            if (!skip_string(c)) return 0;
            continue;
        }
        c->p++;
        if (ch == '[' || ch == '{') {
            if (depth == 1) empty = 0;
            if (++depth == DEEP) c->deep = 1;
        } else if (ch == ']' || ch == '}') {
            if (--depth == 0) break;
        } else if (ch == ',' && depth == 1) {
            n++;
        }
    }
    if (depth != 0) return 0;
    if (counting) *elements = empty ? 0 : n + 1;
    if (!c->marker) c->marker = marker_like_in(start, c->p);
    return 1;
}

/* A member's key (unescaped keys only: the ones read here have none). At
 * '"'; leaves c after the ':'. */
static int read_key(cursor *c, const char **key, size_t *len)
{
    skip_ws(c);
    if (c->p >= c->e || *c->p != '"') return 0;
    const char *start = c->p + 1;
    if (!skip_string(c)) return 0;
    *key = start;
    *len = (size_t)(c->p - 1 - start);
    skip_ws(c);
    if (c->p >= c->e || *c->p != ':') return 0;
    c->p++;
    skip_ws(c);
    return 1;
}

static int key_is(const char *key, size_t len, const char *want)
{
    return strlen(want) == len && memcmp(key, want, len) == 0;
}

/* A number as a double (0 when it is none: a wrong type is the decode's to name). */
static double read_number(cursor *c)
{
    char buf[64];
    const char *start = c->p;
    if (!skip_value(c, NULL)) return 0;
    size_t n = (size_t)(c->p - start);
    if (n == 0 || n >= sizeof buf || !(start[0] == '-' || (start[0] >= '0' && start[0] <= '9')))
        return 0;
    /* a count ("units": 64) is digits alone: no copy, no strtod */
    double v = 0;
    size_t i = 0;
    while (i < n && i < 15 && start[i] >= '0' && start[i] <= '9') v = v * 10 + (start[i++] - '0');
    if (i == n) return v > 0 ? v : 0;
    memcpy(buf, start, n);
    buf[n] = 0;
    v = strtod(buf, NULL);
    return isfinite(v) && v > 0 ? v : 0;
}

/* Iterates an object's members: 1 with the next key, 0 at its end or on
 * malformed text (*ok cleared). c is at '{' on the first call. */
static int next_member(cursor *c, int *first, int *ok, const char **key, size_t *len)
{
    skip_ws(c);
    if (*first) {
        if (c->p >= c->e || *c->p != '{') return *ok = 0;
        c->p++;
        *first = 0;
        skip_ws(c);
        if (c->p < c->e && *c->p == '}') {
            c->p++;
            return 0;
        }
    } else {
        if (c->p < c->e && *c->p == '}') {
            c->p++;
            return 0;
        }
        if (c->p >= c->e || *c->p != ',') return *ok = 0;
        c->p++;
    }
    if (!read_key(c, key, len)) return *ok = 0;
    return 1;
}

/* Iterates an array's elements as next_member an object's members: 1 with
 * c at the next element, 0 at its end or on malformed text (*ok cleared). c
 * is at '[' on the first call. */
static int next_element(cursor *c, int *first, int *ok)
{
    skip_ws(c);
    if (*first) {
        if (c->p >= c->e || *c->p != '[') return *ok = 0;
        c->p++;
        *first = 0;
    } else {
        if (c->p < c->e && *c->p == ']') {
            c->p++;
            return 0;
        }
        if (c->p >= c->e || *c->p != ',') return *ok = 0;
        c->p++;
    }
    skip_ws(c);
    if (c->p < c->e && *c->p == ']') {
        c->p++;
        return 0;
    }
    return c->p < c->e ? 1 : (*ok = 0);
}

/* How a tensor comes: as text (nested or flat: numbers read into doubles,
 * then copied), as base64 (decoded into bytes of its dtype), in the binary
 * part of the body, or as a ref to the tensor store's bytes. */
typedef enum { FORM_TEXT, FORM_B64, FORM_BINARY, FORM_REF } tensor_form;

typedef struct {
    double rows;      /* its first dimension */
    tensor_form form;
    double elem;      /* bytes per element of its dtype (b64, binary, ref); 0 for text */
} tensor_shape;

/* How the answer's tensors travel ("encoding"): text (nested or flat), base64,
 * the binary part, or refs to tensors put in the store. */
typedef enum { ANSWER_TEXT, ANSWER_B64, ANSWER_BINARY, ANSWER_REF } answer_encoding;

/* What "return" asks of /forward and /gradients (the members set to true). */
typedef struct {
    int outputs, input_grad, deltas, activations, params;
} returned;

typedef struct {
    double inputs;      /* network.inputs */
    double units[256];  /* network.layers[l].units, the first 256 */
    size_t n_layers;
    tensor_shape in, tg; /* the top-level inputs and targets */
    int has_params;      /* "params" given (read); else initialised (and answered) */
    double batch_size;   /* "batch_size" (/train), 0 when not given */
    double epochs;       /* "epochs" (/train), 0 when not given (1) */
    returned ret;
    answer_encoding enc;
    int float64;
    /* /train: the state buffers its "optimizer" keeps (the core's count; the
     * most any optimizer keeps when it cannot be read: the decode refuses
     * it), and whether "optimizer_state" brings them to resume from */
    double optim_state;
    int resumes;
    /* the tensors written as numbers (inputs, targets, params, optimizer
     * state): the numbers they hold, and the values and string characters of
     * those fastjson leaves to jansson */
    double text_numbers, jansson_values, jansson_chars;
} shapes;

/* Adds a tensor written as numbers to the counts of s. */
static void count_text(shapes *s, const text_tensor *t)
{
    s->text_numbers += t->numbers;
    if (t->packed) return;
    s->jansson_values += t->values;
    s->jansson_chars += t->chars;
}

static int read_layers(cursor *c, shapes *s)
{
    skip_ws(c);
    if (c->p >= c->e || *c->p != '[') return skip_value(c, NULL);
    int at_first = 1, list_ok = 1;
    while (next_element(c, &at_first, &list_ok)) {
        if (*c->p == '{') {
            int first = 1, ok = 1;
            const char *key;
            size_t len;
            double units = 0;
            int dense = 1;
            while (next_member(c, &first, &ok, &key, &len))
                if (key_is(key, len, "units")) units = read_number(c);
                else if (key_is(key, len, "type")) {
                    const char *value = c->p;
                    if (!skip_value(c, NULL)) return 0;
                    dense = c->p - value == 7 && memcmp(value, "\"dense\"", 7) == 0;
                } else if (!skip_value(c, NULL)) return 0;
            if (!dense) units = -1; /* its size is not in units: estimated by length */
            if (!ok) return 0;
            if (s->n_layers < sizeof s->units / sizeof s->units[0]) s->units[s->n_layers] = units;
            s->n_layers++;
        } else if (!skip_value(c, NULL)) {
            return 0;
        }
    }
    return list_ok;
}

static int read_network(cursor *c, shapes *s)
{
    skip_ws(c);
    if (c->p >= c->e || *c->p != '{') return skip_value(c, NULL);
    int first = 1, ok = 1;
    const char *key;
    size_t len;
    while (next_member(c, &first, &ok, &key, &len)) {
        int read = key_is(key, len, "inputs")   ? (s->inputs = read_number(c), 1)
                   : key_is(key, len, "layers") ? read_layers(c, s)
                                                : skip_value(c, NULL);
        if (!read) return 0;
    }
    return ok;
}

/* The text of the value at c, c left after it: 0 on malformed text. */
static int read_text(cursor *c, const char **text, size_t *len)
{
    skip_ws(c);
    *text = c->p;
    if (!skip_value(c, NULL)) return 0;
    *len = (size_t)(c->p - *text);
    return 1;
}

/* "optimizer": as much as the state it keeps depends on (name, momentum,
 * amsgrad, centered); s->optim_state stays the most any optimizer keeps
 * when the name is not one the core knows. */
static int read_optimizer(cursor *c, shapes *s)
{
    skip_ws(c);
    if (c->p >= c->e || *c->p != '{') return skip_value(c, NULL);
    int first = 1, ok = 1, kind = -1;
    gs_optim_def def;
    gs_optim_defaults(&def, GS_OPT_SGD);
    const char *key, *text;
    size_t len, tlen;
    while (next_member(c, &first, &ok, &key, &len)) {
        if (key_is(key, len, "momentum")) {
            def.momentum = read_number(c); /* < 0 reads 0: refused by the check anyway */
            continue;
        }
        if (!read_text(c, &text, &tlen)) return 0;
        if (key_is(key, len, "name")) {
            char name[16];
            if (tlen >= 2 && tlen - 2 < sizeof name && text[0] == '"') {
                memcpy(name, text + 1, tlen - 2);
                name[tlen - 2] = 0;
                kind = gs_optim_from_name(name);
            }
        } else if (key_is(key, len, "amsgrad")) {
            def.amsgrad = tlen == 4 && !memcmp(text, "true", 4);
        } else if (key_is(key, len, "centered")) {
            def.centered = tlen == 4 && !memcmp(text, "true", 4);
        }
    }
    if (ok && kind >= 0) {
        def.kind = (gs_optim_kind)kind;
        s->optim_state = (double)gs_optim_def_state_count(&def);
    }
    return ok;
}

/* "return": the members that are true (masks are left out: a dense layer
 * has none, and a network of other layers is estimated by its length). */
static int read_return(cursor *c, returned *ret)
{
    skip_ws(c);
    if (c->p >= c->e || *c->p != '{') return skip_value(c, NULL);
    int first = 1, ok = 1;
    const char *key, *text;
    size_t len, tlen;
    while (next_member(c, &first, &ok, &key, &len)) {
        if (!read_text(c, &text, &tlen)) return 0;
        int on = tlen == 4 && !memcmp(text, "true", 4);
        if (key_is(key, len, "outputs")) ret->outputs = on;
        else if (key_is(key, len, "input_grad")) ret->input_grad = on;
        else if (key_is(key, len, "deltas")) ret->deltas = on;
        else if (key_is(key, len, "activations")) ret->activations = on;
        else if (key_is(key, len, "params")) ret->params = on;
    }
    return ok;
}

/* "encoding": text unless it names another (a wrong one is the decode's to name). */
static int read_encoding(cursor *c, answer_encoding *enc)
{
    const char *text;
    size_t len;
    if (!read_text(c, &text, &len)) return 0;
    *enc = len == 5 && !memcmp(text, "\"b64\"", 5)      ? ANSWER_B64
           : len == 8 && !memcmp(text, "\"binary\"", 8) ? ANSWER_BINARY
           : len == 5 && !memcmp(text, "\"ref\"", 5)    ? ANSWER_REF
                                                        : ANSWER_TEXT;
    return 1;
}

/* Bytes an answered tensor takes per element of elem bytes: its text; 4
 * characters per 3 bytes in base64; its bytes in the binary part; none for a
 * ref (a copy of its bytes is put in the tensor store, which has its own
 * budget). */
static double answer_bytes_per_number(answer_encoding enc, double elem)
{
    switch (enc) {
    case ANSWER_TEXT: return ANSWER_BYTES_PER_NUMBER(elem);
    case ANSWER_B64: return elem * 4 / 3;
    case ANSWER_BINARY: return elem;
    case ANSWER_REF: return 0;
    }
    return ANSWER_BYTES_PER_NUMBER(elem);
}

/* A tensor: a nested array (its length) or a tensor object ({"shape":
 * [rows, ...], "data" | "b64" | "binary_data_size" | "ref", "dtype"}); the
 * numbers of its text counted in s. */
static int read_tensor(cursor *c, tensor_shape *t, shapes *s)
{
    skip_ws(c);
    text_tensor text;
    if (c->p < c->e && *c->p == '[') {
        if (!read_text_tensor(c, 0, &text)) return 0;
        count_text(s, &text);
        t->rows = text.rows;
        return 1;
    }
    if (c->p >= c->e || *c->p != '{') return skip_value(c, NULL);
    int first = 1, ok = 1;
    const char *key;
    size_t len;
    while (next_member(c, &first, &ok, &key, &len)) {
        if (key_is(key, len, "shape")) {
            skip_ws(c);
            if (c->p < c->e && *c->p == '[') {
                c->p++;
                skip_ws(c);
                t->rows = read_number(c);
                const char *rest = c->p;
                while (c->p < c->e && *c->p != ']') c->p++; /* numbers only: no strings */
                if (!c->marker) c->marker = marker_like_in(rest, c->p);
                if (c->p < c->e) c->p++;
                continue;
            }
        } else if (key_is(key, len, "data")) {
            skip_ws(c);
            if (c->p < c->e && *c->p == '[') {
                if (!read_text_tensor(c, 1, &text)) return 0;
                count_text(s, &text);
                continue;
            }
        } else if (key_is(key, len, "b64")) {
            t->form = FORM_B64;
        } else if (key_is(key, len, "binary_data_size")) {
            t->form = FORM_BINARY;
        } else if (key_is(key, len, "ref")) {
            t->form = FORM_REF;
        } else if (key_is(key, len, "dtype")) {
            const char *value = c->p;
            if (!skip_value(c, NULL)) return 0;
            t->elem = c->p - value == 9 && memcmp(value, "\"float32\"", 9) == 0 ? 4 : 8;
            continue;
        }
        if (!skip_value(c, NULL)) return 0;
    }
    return ok;
}

/* Bytes the decode allocates for a tensor of n elements read as elem-byte
 * numbers: text is read into doubles, then copied; base64 is decoded, then
 * copied unless borrowed; binary bytes are copied (whether they can be
 * borrowed depends on their alignment in the body); a ref's bytes, held by
 * the store and counted in its own budget, are copied unless borrowed. The
 * inputs are borrowed where they lie when their dtype is the computation's
 * (request.c, read_batch); the targets are always copied. */
static double decode_bytes(const tensor_shape *t, double n, double elem, int borrowable)
{
    int borrowed = borrowable && t->elem == elem;
    switch (t->form) {
    case FORM_TEXT: return (TEXT_NUMBER_BYTES + elem) * n;
    case FORM_B64: return (t->elem + (borrowed ? 0 : elem)) * n;
    case FORM_BINARY: return elem * n;
    case FORM_REF: return borrowed ? 0 : elem * n;
    }
    return (TEXT_NUMBER_BYTES + elem) * n;
}

/* "params" (and each of "optimizer_state"'s buffers): a list of layers'
 * tensors, {"weight": ..., "bias": ...}; their numbers counted in s. */
static int read_params(cursor *c, shapes *s)
{
    skip_ws(c);
    if (c->p >= c->e || *c->p != '[') return skip_value(c, NULL);
    int at_first = 1, list_ok = 1;
    while (next_element(c, &at_first, &list_ok)) {
        if (*c->p == '{') {
            int first = 1, ok = 1;
            const char *key;
            size_t len;
            tensor_shape t = {0, FORM_TEXT, 0};
            while (next_member(c, &first, &ok, &key, &len))
                if (!read_tensor(c, &t, s)) return 0;
            if (!ok) return 0;
        } else if (!skip_value(c, NULL)) {
            return 0;
        }
    }
    return list_ok;
}

/* "optimizer_state": {"step", "buffers": {name: a list as "params"}}. */
static int read_optimizer_state(cursor *c, shapes *s)
{
    s->resumes = 1;
    skip_ws(c);
    if (c->p >= c->e || *c->p != '{') return skip_value(c, NULL);
    int first = 1, ok = 1;
    const char *key;
    size_t len;
    while (next_member(c, &first, &ok, &key, &len)) {
        skip_ws(c);
        int read;
        if (key_is(key, len, "buffers") && c->p < c->e && *c->p == '{') {
            int bfirst = 1, bok = 1;
            while (next_member(c, &bfirst, &bok, &key, &len))
                if (!read_params(c, s)) return 0;
            read = bok;
        } else {
            read = skip_value(c, NULL);
        }
        if (!read) return 0;
    }
    return ok;
}

static int read_shapes(const char *json, size_t len, shapes *s)
{
    cursor c = {json, json + len, 0, 0};
    int first = 1, ok = 1;
    const char *key;
    size_t klen;
    while (next_member(&c, &first, &ok, &key, &klen)) {
        int read;
        if (key_is(key, klen, "network")) read = read_network(&c, s);
        else if (key_is(key, klen, "inputs")) read = read_tensor(&c, &s->in, s);
        else if (key_is(key, klen, "targets")) read = read_tensor(&c, &s->tg, s);
        else if (key_is(key, klen, "params")) read = (s->has_params = 1, read_params(&c, s));
        else if (key_is(key, klen, "batch_size")) read = (s->batch_size = read_number(&c), 1);
        else if (key_is(key, klen, "epochs")) read = (s->epochs = read_number(&c), 1);
        else if (key_is(key, klen, "return")) read = read_return(&c, &s->ret);
        else if (key_is(key, klen, "encoding")) read = read_encoding(&c, &s->enc);
        else if (key_is(key, klen, "optimizer")) read = read_optimizer(&c, s);
        else if (key_is(key, klen, "optimizer_state")) read = read_optimizer_state(&c, s);
        else if (key_is(key, klen, "dtype")) {
            const char *value = c.p;
            read = skip_value(&c, NULL);
            s->float64 = c.p - value == 9 && memcmp(value, "\"float64\"", 9) == 0;
        } else read = skip_value(&c, NULL);
        if (!read) return 0;
    }
    /* Text after the object, or anything else jansson refuses in the
     * skeleton (a number that overflows, a duplicate key) costs nothing
     * here: the skeleton's error is mapped back to the text as sent
     * (wire/codec.c, error_in_body), which is not parsed again. */
    /* nested past fastjson's depth, or an integer that could pass for a
     * marker: none of the text's tensors is packed */
    if (c.deep || c.marker) s->jansson_values += s->text_numbers;
    return ok && s->inputs > 0 && s->n_layers > 0 && s->n_layers <= 256;
}

static size_t to_size(double bytes)
{
    return bytes >= (double)SIZE_MAX ? SIZE_MAX : (size_t)bytes;
}

request_estimate estimate_request(const route_def *r, const char *json, size_t json_len,
                                  size_t body_len, const gs_limits *lim, size_t max_steps)
{
    request_estimate est = {0, 0, 0};
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, init_special);
    double by_length = (double)body_len * TEXT_FACTOR + BASE_BYTES;
    shapes s; /* units[] is written before it is read: only the counts are zeroed */
    s.inputs = s.batch_size = s.epochs = 0;
    s.has_params = 0;
    s.ret = (returned){0, 0, 0, 0, 0};
    s.enc = ANSWER_TEXT;
    s.n_layers = 0;
    s.in = s.tg = (tensor_shape){0, FORM_TEXT, 0};
    s.float64 = 0;
    s.optim_state = GS_OPTIM_MAX_STATE;
    s.resumes = 0;
    s.text_numbers = s.jansson_values = s.jansson_chars = 0;
    est.memory = to_size(by_length);
    if (!r->param_copies || !read_shapes(json, json_len, &s)) return est;

    /* P parameters, W the widest layer, A activations per row */
    double prev = s.inputs, params = 0, width = s.inputs, per_row = 0;
    for (size_t l = 0; l < s.n_layers; l++) {
        double units = s.units[l];
        if (units <= 0) return est; /* the decode names the field */
        params += units * (prev + 1);
        per_row += units;
        if (units > width) width = units;
        prev = units;
    }
    double rows = s.in.rows > 0 ? s.in.rows : 1, outputs = prev;
    int over = lim && ((lim->max_layers && s.n_layers > lim->max_layers) ||
                       (lim->max_units && width > (double)lim->max_units) ||
                       (lim->max_params && params > (double)lim->max_params) ||
                       (lim->max_batch_elems && rows * width > (double)lim->max_batch_elems));
    if (over) return est;

    double elem = s.float64 || r->float64 ? 8 : 4;
    /* What each route holds and answers (api/routes.c), rows in one pass:
     * - /train (minibatches) passes at_once rows at a time (the forward's z
     *   and a, the backward's deltas; no input gradients), gathers each
     *   minibatch (shuffled: a permutation of the rows), holds its
     *   optimizer's state buffers beside the params and grads (reading them,
     *   when it resumes, as the params are read) and answers the parameters
     *   and those buffers, and the loss history: a double a step, held, then
     *   answered as text whatever the encoding;
     * - /forward (no backward) writes z and a only, but the pass's slab lays
     *   each layer's z, deltas and a side by side (core/pass.c), and on 2 MiB
     *   pages (alloc.c) the deltas between them are resident too: counted as
     *   three, without the input gradients after them; it answers the
     *   outputs, the params when it initialised them, and the activations
     *   "return" asks;
     * - /gradients adds the deltas, and the input gradients when "return"
     *   asks for them, and answers the gradients, the params when it
     *   initialised them or when asked, and the per-row tensors "return"
     *   asks;
     * - /gradcheck (a route that computes in float64 whatever the request
     *   says) passes once as /gradients does, then checks a float64 copy of
     *   the network (params, grads) and of the batch with a pass of its own
     *   (core/gradcheck.c), and answers a few numbers per tensor. */
    double at_once = rows, batch_copy = 0, copies = r->param_copies, resumed = 0, steps = 0,
           per_pass_row, answered;
    const returned *ret = &s.ret;
    if (r->minibatches) {
        if (s.batch_size > 0 && s.batch_size < rows) at_once = s.batch_size;
        steps = (s.epochs > 0 ? s.epochs : 1) * ceil(rows / at_once);
        if (max_steps && steps > (double)max_steps) return est; /* the decode names it */
        batch_copy = 8 * rows + elem * at_once * (s.inputs + outputs); /* gathered */
        copies += s.optim_state;
        resumed = s.resumes ? TEXT_NUMBER_BYTES * params * s.optim_state : 0;
        per_pass_row = 3 * per_row;
        answered = params * (1 + s.optim_state);
    } else if (!r->backward) {
        per_pass_row = 3 * per_row;
        answered = rows * outputs + (s.has_params ? 0 : params) +
                   (ret->activations ? rows * per_row : 0);
    } else {
        per_pass_row = 3 * per_row + (ret->input_grad ? s.inputs : 0);
        answered = params + (!s.has_params || ret->params ? params : 0) +
                   rows * ((ret->outputs ? outputs : 0) + (ret->input_grad ? s.inputs : 0) +
                           (ret->deltas + ret->activations) * per_row);
        if (r->float64) {
            copies += 2;
            batch_copy = 8 * rows * (s.inputs + outputs);
            per_pass_row *= 2;
            answered = 0;
        }
    }
    /* The numbers the text's tensors hold, which the scan reads into a pool
     * of doubles sized once from this count (wire/fastjson.h); never more
     * than the pool's bytes counted below (TEXT_NUMBER_BYTES a number), so a
     * body whose text holds more numbers than its shapes say cannot reserve
     * more than its estimate. */
    double charged = (s.in.form == FORM_TEXT ? rows * s.inputs : 0) +
                     (s.tg.form == FORM_TEXT ? rows * outputs : 0) + (s.has_params ? params : 0) +
                     (resumed > 0 ? params * s.optim_state : 0);
    est.text_numbers = to_size(fmin(s.text_numbers, charged));
    /* A tensor fastjson leaves to jansson (not rectangular, or not all
     * numbers: the decode refuses it) is a node a value and its strings,
     * beside the skeleton, a copy of the text less the packed tensors. */
    double jansson = s.jansson_values > 0 ? JANSSON_VALUE_BYTES * s.jansson_values +
                                                s.jansson_chars + (double)json_len
                                          : 0;
    double answer = answer_bytes_per_number(s.enc, elem) * answered
                    + ANSWER_BYTES_PER_NUMBER(8) * steps; /* the loss history's text */
    double bytes = (double)body_len + BASE_BYTES
                   + decode_bytes(&s.in, rows * s.inputs, elem, 1) /* the batch */
                   + decode_bytes(&s.tg, rows * outputs, elem, 0)
                   + (s.has_params ? TEXT_NUMBER_BYTES * params : 0) /* params read as text */
                   + resumed /* and the optimizer's state */
                   + elem * params * copies /* params, grads (+ optimizer state) */
                   + elem * at_once * per_pass_row
                   + batch_copy
                   + 8 * steps /* the loss history */
                   + answer + fmin(answer, (double)JW_SLACK)
                   + jansson;
    est.memory = to_size(bytes);
    est.tiny = r->one_pass && rows * params <= ESTIMATE_TINY_MACS;
    return est;
}
