#include "api/pipeline.h"

#include <string.h>

#include "alloc.h"
#include "api/request.h"
#include "wire/codec.h"
#include "wire/json_writer.h"

/* 4. scan: the JSON tree, its packed tensors and binary part in cc; NULL
 * with d filled (400 malformed, 500 out of memory). */
static json_t *scan_body(const route_def *route, const char *body, size_t len,
                         const compute_env *env, codec_ctx *cc, diag *d)
{
    return codec_open(cc, body, len, env->json_len, route->tensors, env->text_numbers,
                      env->skeletons, d);
}

/* 5. decode: the common fields of a network request into r, with the row's
 * keys and targets; 0 with d filled. */
static int decode_request(const route_def *route, request *r, const json_t *root,
                          const codec_ctx *cc, const compute_env *env, route_out *o)
{
    int ok = request_decode(r, root, cc, &route->kind, env->opts, env->nets, o->d);
    o->t_decoded = now_seconds();
    if (ok && !route->late_tensors) ok = !route_refs_missing(o);
    if (ok) {
        o->enc = r->encoding;
        o->dtype = r->def.dtype;
    }
    return ok;
}

/* 7. encode: the writer's text into res (a binary answer as its JSON then
 * its tensors), or the problem d already holds; out of memory is a 500. An
 * answer of one chunk is one buffer; a longer one, with split_answer, is
 * handed over in its chunks, as the writer has them (no copy). */
static void encode_answer(route_out *o, const compute_env *env, compute_result *res)
{
    if (res->d.status) {
        res->status = res->d.status;
        return;
    }
    if (env->split_answer && jw_chunks(&o->w) > 1) {
        if ((res->parts = jw_take_parts(&o->w))) {
            res->len = res->parts->len;
            res->json_len = o->enc == ENC_BINARY ? res->parts->json_len : 0;
        }
    } else if (o->enc == ENC_BINARY) {
        res->body = jw_take_with_binary(&o->w, &res->len, &res->json_len);
    } else {
        res->body = jw_take(&o->w, &res->len);
    }
    if (res->body || res->parts) res->status = 200;
    else diag_set(&res->d, 500, "internal", "out of memory writing the response");
    if (res->d.status) res->status = res->d.status;
}

void compute_run(const route_def *route, const char *body, size_t len, const compute_env *env,
                 compute_result *res)
{
    memset(res, 0, RESULT_HEAD);
    double t0 = now_seconds();
    if (route->on_plain) { /* no JSON: the handler answers from the body as it is */
        route->on_plain(body, len, env, res);
        if (res->d.status) res->status = res->d.status;
        res->compute_s = now_seconds() - t0;
        return;
    }
    codec_ctx cc;
    codec_refs refs = {.store = env->store}; /* the request's refs: pinned, or missing */
    route_out o = {.d = &res->d, .store = env->store, .refs = &refs, .res = res};
    jw_init(&o.w);
    json_t *root = scan_body(route, body, len, env, &cc, &res->d);
    cc.refs = &refs;
    if (root && route->on_json) {
        route->on_json(root, env, &o); /* no network: decodes what it reads itself */
    } else if (root) {
        request r;
        if (decode_request(route, &r, root, &cc, env, &o)) route->on_net(&r, env, &o);
        request_free(&r);
    }
    json_decref(root);
    codec_close(&cc);
    codec_refs_free(&refs); /* unpins: the answer holds no stored bytes */
    encode_answer(&o, env, res);
    jw_free(&o.w);
    double t_end = now_seconds(), t_dec = o.t_decoded ? o.t_decoded : t_end;
    double t_comp = o.t_computed ? o.t_computed : t_end;
    res->decode_s = t_dec - t0;
    res->compute_s = t_comp - t_dec;
    res->encode_s = t_end - t_comp;
}
