/* API tests: malformed and hostile requests. Each must get the right 4xx
 * with a problem+json body naming the offending field by JSON Pointer, and
 * the server must keep serving; limits give 422 naming the limit; bodies
 * over --max-body-bytes give 413 before they are read. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "lib/apitest.h"

/* Small limits so that each one can be crossed cheaply. */
static const char *const limit_args[] = {
    "--max-units", "64", "--max-layers", "4", "--max-params", "2000", "--max-batch-elems",
    "5000", "--max-steps", "50", "--max-body-bytes", "200000", NULL};

static const char *base_mse =
    "{\"network\":{\"inputs\":2,\"layers\":[{\"units\":3,\"activation\":\"tanh\"},"
    "{\"units\":1,\"activation\":\"linear\"}],\"loss\":\"mse\"},"
    "\"params\":[{\"weight\":[[0.1,0.2],[0.3,0.4],[0.5,0.6]],\"bias\":[0,0,0]},"
    "{\"weight\":[[1,1,1]],\"bias\":[0]}],"
    "\"inputs\":[[1,2],[3,4]],\"targets\":[[1],[2]]}";

static const char *base_ce =
    "{\"network\":{\"inputs\":2,\"layers\":[{\"units\":3,\"activation\":\"softmax\"}],"
    "\"loss\":\"cross_entropy\"},\"inputs\":[[1,2],[3,4]],\"targets\":[0,2]}";

static const char *base_train =
    "{\"network\":{\"inputs\":2,\"layers\":[{\"units\":3,\"activation\":\"relu\"},"
    "{\"units\":1,\"activation\":\"linear\"}],\"loss\":\"mse\"},"
    "\"inputs\":[[1,2],[3,4]],\"targets\":[[1],[2]],\"optimizer\":{\"name\":\"sgd\"},"
    "\"epochs\":2}";

/* Image rows [C, H, W] = [1, 2, 3] through flatten into dense layers. */
static const char *base_img =
    "{\"network\":{\"inputs\":[1,2,3],\"layers\":[{\"type\":\"flatten\"},"
    "{\"units\":2,\"activation\":\"tanh\"},{\"units\":1,\"activation\":\"linear\"}],"
    "\"loss\":\"mse\"},\"params\":[{},{\"weight\":[[1,2,3,4,5,6],[0,1,0,1,0,1]],"
    "\"bias\":[0,0]},{\"weight\":[[1,-1]],\"bias\":[0]}],"
    "\"inputs\":[[[[1,2,3],[4,5,6]]],[[[0,1,0],[1,0,1]]]],\"targets\":[[1],[0]]}";

/* A 1x5x5 image through conv2d 2@3x3, flatten and a dense layer. */
static const char *base_conv =
    "{\"network\":{\"inputs\":[1,5,5],\"layers\":[{\"type\":\"conv2d\",\"out_channels\":2,"
    "\"kernel_size\":3,\"activation\":\"relu\"},{\"type\":\"flatten\"},"
    "{\"units\":1,\"activation\":\"linear\"}],\"loss\":\"mse\"},"
    "\"params\":[{\"weight\":{\"shape\":[2,1,3,3],\"data\":[1,0,1,0,1,0,1,0,1,0,1,0,1,0,1,0,1,0]},"
    "\"bias\":[0,0.5]},{},{\"weight\":{\"shape\":[1,18],\"data\":[1,1,1,1,1,1,1,1,1,"
    "1,1,1,1,1,1,1,1,1]},\"bias\":[0]}],"
    "\"inputs\":{\"shape\":[1,1,5,5],\"data\":[1,2,3,4,5,1,2,3,4,5,1,2,3,4,5,1,2,3,4,5,1,2,3,4,5]},"
    "\"targets\":[[1]]}";

enum { B_MSE, B_CE, B_TRAIN, B_IMG, B_CONV };

typedef struct {
    const char *route;
    int base;
    const char *path;  /* JSON Pointer to set (or delete when value is NULL) */
    const char *value; /* JSON text */
    const char *raw;   /* a whole body instead of base + change */
    long status;
    const char *pointer; /* expected in errors[] (or a prefix of one); NULL: none required */
} hostile;

#define DEL NULL
static const hostile table[] = {
    /* not JSON, or not one object */
    {"/gradients", 0, NULL, NULL, "{", 400, NULL},
    {"/gradients", 0, NULL, NULL, "", 400, NULL},
    {"/gradients", 0, NULL, NULL, "{\"network\":", 400, NULL},
    {"/gradients", 0, NULL, NULL, "{\"a\":1}{\"b\":2}", 400, NULL},
    {"/gradients", 0, NULL, NULL, "{\"network\": NaN}", 400, NULL},
    {"/gradients", 0, NULL, NULL, "{\"inputs\": [[Infinity]]}", 400, NULL},
    {"/gradients", 0, NULL, NULL, "{\"inputs\": [[1e999]]}", 400, NULL},
    {"/gradients", 0, NULL, NULL, "{\"network\":{\"inputs\":1},\"network\":{\"inputs\":2}}", 400, NULL},
    {"/gradients", 0, NULL, NULL, "{\"net\xff\xfe\":1}", 400, NULL},
    {"/gradients", 0, NULL, NULL, "[1,2]", 400, ""},
    {"/gradients", 0, NULL, NULL, "\"network\"", 400, NULL},
    {"/gradients", 0, NULL, NULL, "null", 400, NULL},
    {"/forward", 0, NULL, NULL, "{\"network\":{\"inputs\":1,\"layers\":[{\"units\":1,\"activation\":\"linear\",\"units\":2}]},\"inputs\":[[1]]}", 400, NULL},
    /* the network */
    {"/gradients", B_MSE, "/network", DEL, NULL, 400, "/network"},
    {"/gradients", B_MSE, "/network", "5", NULL, 400, "/network"},
    {"/gradients", B_MSE, "/network/inputs", DEL, NULL, 400, "/network/inputs"},
    {"/gradients", B_MSE, "/network/inputs", "0", NULL, 400, "/network/inputs"},
    {"/gradients", B_MSE, "/network/inputs", "-1", NULL, 400, "/network/inputs"},
    {"/gradients", B_MSE, "/network/inputs", "2.5", NULL, 400, "/network/inputs"},
    {"/gradients", B_MSE, "/network/inputs", "\"2\"", NULL, 400, "/network/inputs"},
    {"/gradients", B_MSE, "/network/inputs", "1e20", NULL, 400, "/network/inputs"},
    {"/gradients", B_MSE, "/network/layers", "[]", NULL, 400, "/network/layers"},
    {"/gradients", B_MSE, "/network/layers", "{}", NULL, 400, "/network/layers"},
    {"/gradients", B_MSE, "/network/layers/1/units", "0", NULL, 400, "/network/layers/1/units"},
    {"/gradients", B_MSE, "/network/layers/0/units", DEL, NULL, 400, "/network/layers/0/units"},
    {"/gradients", B_MSE, "/network/layers/1/units", "true", NULL, 400, "/network/layers/1/units"},
    {"/gradients", B_MSE, "/network/layers/0/activation", "\"swish\"", NULL, 400, "/network/layers/0/activation"},
    {"/gradients", B_MSE, "/network/layers/0/activation", "\"softmax\"", NULL, 400, "/network/layers/0/activation"},
    {"/gradients", B_MSE, "/network/layers/0/unit", "3", NULL, 400, "/network/layers/0/unit"},
    {"/gradients", B_MSE, "/network/layers/1", "7", NULL, 400, "/network/layers/1"},
    {"/gradients", B_MSE, "/network/lossy", "\"mse\"", NULL, 400, "/network/lossy"},
    {"/gradients", B_MSE, "/network/loss", "\"hinge\"", NULL, 400, "/network/loss"},
    {"/gradients", B_MSE, "/network/reduction", "\"avg\"", NULL, 400, "/network/reduction"},
    {"/gradients", B_MSE, "/network/huber_delta", "-1", NULL, 400, "/network/huber_delta"},
    {"/gradients", B_MSE, "/network/penalty", "0.1", NULL, 400, "/network/penalty"},
    {"/gradients", B_MSE, "/network/penalty", "{\"l1\":-0.1}", NULL, 400, "/network/penalty/l1"},
    {"/gradients", B_MSE, "/network/penalty", "{\"l2\":\"big\"}", NULL, 400, "/network/penalty/l2"},
    {"/gradients", B_MSE, "/network/penalty", "{\"l3\":1}", NULL, 400, "/network/penalty/l3"},
    /* top level */
    {"/gradients", B_MSE, "/input", "[[1,2]]", NULL, 400, "/input"},
    {"/gradients", B_MSE, "/dtype", "\"float16\"", NULL, 400, "/dtype"},
    {"/gradients", B_MSE, "/encoding", "\"hex\"", NULL, 400, "/encoding"},
    {"/gradients", B_MSE, "/return", "true", NULL, 400, "/return"},
    {"/gradients", B_MSE, "/return", "{\"outputs\":\"yes\"}", NULL, 400, "/return/outputs"},
    {"/gradients", B_MSE, "/return", "{\"gradients\":true}", NULL, 400, "/return/gradients"},
    {"/forward", B_MSE, "/optimizer", "{\"name\":\"sgd\"}", NULL, 400, "/optimizer"},
    {"/forward", B_MSE, "/return", "{\"outputs\":true}", NULL, 400, "/return"},
    {"/forward", B_MSE, "/return", "{\"activations\":1}", NULL, 400, "/return/activations"},
    {"/forward", B_MSE, "/return", "{\"deltas\":true}", NULL, 400, "/return/deltas"},
    {"/gradients", B_MSE, "/epochs", "1", NULL, 400, "/epochs"},
    /* tensors */
    {"/gradients", B_MSE, "/inputs", DEL, NULL, 400, "/inputs"},
    {"/gradients", B_MSE, "/inputs", "[[1,2,3],[4,5,6]]", NULL, 400, "/inputs"},
    {"/gradients", B_MSE, "/inputs", "[[1,2],[3]]", NULL, 400, "/inputs"},
    {"/gradients", B_MSE, "/inputs", "[[1,\"a\"],[3,4]]", NULL, 400, "/inputs"},
    {"/gradients", B_MSE, "/inputs", "[[1,null],[3,4]]", NULL, 400, "/inputs"},
    {"/gradients", B_MSE, "/inputs", "[1,2]", NULL, 400, "/inputs"},
    {"/gradients", B_MSE, "/inputs", "[[[1],[2]],[[3],[4]]]", NULL, 400, "/inputs"},
    {"/gradients", B_MSE, "/inputs", "[]", NULL, 400, "/inputs"},
    {"/gradients", B_MSE, "/inputs", "\"1,2\"", NULL, 400, "/inputs"},
    /* refs (the tensor store, docs/tensor-store.md): malformed ones are 400 at their
     * member, refs where no tensor goes are the wrong type there, and refs the store
     * does not hold are 409 naming each */
    {"/gradients", B_MSE, "/inputs", "{\"ref\":\"sha256:zz\",\"shape\":[2,2],\"dtype\":\"float32\"}", NULL, 400, "/inputs/ref"},
    {"/gradients", B_MSE, "/inputs", "{\"ref\":\"sha256:0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF\",\"shape\":[2,2],\"dtype\":\"float32\"}", NULL, 400, "/inputs/ref"},
    {"/gradients", B_MSE, "/inputs", "{\"ref\":\"sha1:0123456789abcdef0123456789abcdef01234567\",\"shape\":[2,2],\"dtype\":\"float32\"}", NULL, 400, "/inputs/ref"},
    {"/gradients", B_MSE, "/inputs", "{\"ref\":\"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0\",\"shape\":[2,2],\"dtype\":\"float32\"}", NULL, 400, "/inputs/ref"},
    {"/gradients", B_MSE, "/inputs", "{\"ref\":7,\"shape\":[2,2],\"dtype\":\"float32\"}", NULL, 400, "/inputs/ref"},
    {"/gradients", B_MSE, "/inputs", "{\"ref\":\"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\",\"shape\":[2,2],\"dtype\":\"float32\",\"b64\":\"\"}", NULL, 400, "/inputs/b64"},
    {"/gradients", B_MSE, "/inputs", "{\"ref\":\"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\",\"shape\":[2,2],\"dtype\":\"float32\",\"data\":[1,2,3,4]}", NULL, 400, "/inputs/data"},
    {"/gradients", B_MSE, "/inputs", "{\"ref\":\"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\",\"shape\":[2,2],\"dtype\":\"int64\"}", NULL, 400, "/inputs/dtype"},
    {"/gradients", B_MSE, "/inputs", "{\"ref\":\"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\",\"shape\":[2,2],\"dtype\":\"float16\"}", NULL, 400, "/inputs/dtype"},
    {"/gradients", B_MSE, "/inputs", "{\"ref\":\"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\",\"shape\":[2,2]}", NULL, 400, "/inputs/dtype"},
    {"/gradients", B_MSE, "/inputs", "{\"ref\":\"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\",\"dtype\":\"float32\"}", NULL, 400, "/inputs/shape"},
    {"/gradients", B_MSE, "/inputs", "{\"ref\":\"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\",\"shape\":[2,3],\"dtype\":\"float32\"}", NULL, 400, "/inputs"},
    {"/gradients", B_MSE, "/targets", "{\"ref\":\"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\",\"shape\":[2,1],\"dtype\":\"int64\"}", NULL, 400, "/targets/dtype"},
    {"/gradients", B_MSE, "/network/layers/0/units", "{\"ref\":\"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\",\"shape\":[2,2],\"dtype\":\"float32\"}", NULL, 400, "/network/layers/0/units"},
    {"/gradients", B_MSE, "/network", "{\"ref\":\"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\",\"shape\":[2,2],\"dtype\":\"float32\"}", NULL, 400, "/network"},
    {"/train", B_TRAIN, "/epochs", "{\"ref\":\"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\",\"shape\":[2,2],\"dtype\":\"float32\"}", NULL, 400, "/epochs"},
    {"/train", B_TRAIN, "/optimizer", "{\"ref\":\"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\",\"shape\":[2,2],\"dtype\":\"float32\"}", NULL, 400, "/optimizer/name"},
    {"/gradients", B_MSE, "/inputs", "[[{\"ref\":\"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\",\"shape\":[2,2],\"dtype\":\"float32\"},2],[3,4]]", NULL, 400, "/inputs/0/0"},
    {"/gradients", B_MSE, "/params", "{\"ref\":\"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\",\"shape\":[2,2],\"dtype\":\"float32\"}", NULL, 400, "/params"},
    {"/gradients", B_MSE, "/inputs", "{\"ref\":\"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\",\"shape\":[2,2],\"dtype\":\"float32\"}", NULL, 409, "/inputs"},
    {"/gradients", B_MSE, "/params/0/weight", "{\"ref\":\"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\",\"shape\":[3,2],\"dtype\":\"float32\"}", NULL, 409, "/params/0/weight"},
    {"/gradients", B_CE, "/targets", "{\"ref\":\"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\",\"shape\":[2],\"dtype\":\"int64\"}", NULL, 409, "/targets"},
    {"/forward", B_MSE, "/params/1/bias", "{\"ref\":\"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\",\"shape\":[1],\"dtype\":\"float64\"}", NULL, 409, "/params/1/bias"},
    {"/gradients", B_MSE, "/inputs", "{\"shape\":[2,2],\"data\":[1,2,3]}", NULL, 400, "/inputs"},
    {"/gradients", B_MSE, "/inputs", "{\"shape\":[2,-2],\"data\":[1,2,3,4]}", NULL, 400, "/inputs"},
    {"/gradients", B_MSE, "/inputs", "{\"shape\":[4611686018427387904,4],\"data\":[1,2,3,4]}", NULL, 400, "/inputs"},
    {"/gradients", B_MSE, "/inputs", "{\"shape\":[2,2],\"data\":[1,2,3,4],\"extra\":1}", NULL, 400, "/inputs"},
    {"/gradients", B_MSE, "/inputs", "{\"shape\":[2,2],\"dtype\":\"float32\",\"b64\":\"!!!!\"}", NULL, 400, "/inputs"},
    {"/gradients", B_MSE, "/inputs", "{\"shape\":[2,2],\"dtype\":\"float32\",\"b64\":\"AACAPwAAAEA=\"}", NULL, 400, "/inputs"},
    {"/gradients", B_MSE, "/inputs", "{\"shape\":[1,2],\"dtype\":\"int8\",\"b64\":\"AACAPwAAAEA=\"}", NULL, 400, "/inputs"},
    {"/gradients", B_MSE, "/inputs", "{\"shape\":[1,2],\"dtype\":\"float32\",\"b64\":\"AACAPwAAAEA=\",\"data\":[1,2]}", NULL, 400, "/inputs"},
    {"/gradients", B_MSE, "/inputs", "{\"shape\":[2,2],\"dtype\":\"float32\",\"b64\":\"AACAfwAAAEAAAIA/AAAAQA==\"}", NULL, 400, "/inputs"},
    /* long enough for the bulk decoder, which checks finiteness as it goes: Inf, NaN */
    {"/gradients", 0, NULL, NULL, "{\"network\":{\"inputs\":6,\"layers\":[{\"units\":1,\"activation\":\"linear\"}],\"loss\":\"mse\"},"
     "\"inputs\":{\"shape\":[4,6],\"dtype\":\"float32\",\"b64\":\"AACAPwAAgD8AAIA/AACAPwAAgD8AAIB/AACAPwAAgD8AAIA/AACAPwAAgD8AAIA/AACAPwAAgD8AAIA/AACAPwAAgD8AAIA/AACAPwAAgD8AAIA/AACAPwAAgD8AAIA/\"},"
     "\"targets\":[[1],[2],[3],[4]]}", 400, "/inputs"},
    {"/gradients", 0, NULL, NULL, "{\"network\":{\"inputs\":6,\"layers\":[{\"units\":1,\"activation\":\"linear\"}],\"loss\":\"mse\"},"
     "\"inputs\":{\"shape\":[4,6],\"dtype\":\"float32\",\"b64\":\"AACAPwAAgD8AAIA/AACAPwAAgD8AAIA/AACAPwAAgD8AAIA/AACAPwAAgD8AAIA/AACAPwAAgD8AAIA/AACAPwAAgD8AAMB/AACAPwAAgD8AAIA/AACAPwAAgD8AAIA/\"},"
     "\"targets\":[[1],[2],[3],[4]]}", 400, "/inputs"},
    {"/gradients", B_MSE, "/targets", DEL, NULL, 400, "/targets"},
    {"/gradients", B_MSE, "/targets", "[[1]]", NULL, 400, "/targets"},
    {"/gradients", B_MSE, "/targets", "[[1,2],[3,4]]", NULL, 400, "/targets"},
    {"/gradients", B_MSE, "/targets", "[0,1]", NULL, 400, "/targets"},
    {"/gradients", B_CE, "/targets", "[0,3]", NULL, 400, "/targets/1"},
    {"/gradients", B_CE, "/targets", "[-1,0]", NULL, 400, "/targets/0"},
    {"/gradients", B_CE, "/targets", "[0,0.5]", NULL, 400, "/targets"},
    {"/gradients", B_CE, "/targets", "[0]", NULL, 400, "/targets"},
    /* params and init */
    {"/gradients", B_MSE, "/params/1", DEL, NULL, 400, "/params"},
    {"/gradients", B_MSE, "/params/0/weight", "[[0.1,0.2]]", NULL, 400, "/params/0/weight"},
    {"/gradients", B_MSE, "/params/1/bias", "[0,0]", NULL, 400, "/params/1/bias"},
    {"/gradients", B_MSE, "/params/0/bias", DEL, NULL, 400, "/params/0/bias"},
    {"/gradients", B_MSE, "/params/0/gamma", "[1]", NULL, 400, "/params/0/gamma"},
    {"/gradients", B_MSE, "/params/1/weight/0/2", "\"x\"", NULL, 400, "/params/1/weight"},
    {"/gradients", B_MSE, "/params", "{}", NULL, 400, "/params"},
    {"/gradients", B_CE, "/init", "{\"scheme\":\"orthogonal\"}", NULL, 400, "/init/scheme"},
    {"/gradients", B_CE, "/init", "{\"seed\":-1}", NULL, 400, "/init/seed"},
    {"/gradients", B_CE, "/init", "{\"seed\":0.5}", NULL, 400, "/init/seed"},
    {"/gradients", B_CE, "/init", "{\"sead\":1}", NULL, 400, "/init/sead"},
    /* training options */
    {"/train", B_TRAIN, "/optimizer", DEL, NULL, 400, "/optimizer"},
    {"/train", B_TRAIN, "/optimizer/name", "\"lbfgs\"", NULL, 400, "/optimizer/name"},
    {"/train", B_TRAIN, "/optimizer/name", DEL, NULL, 400, "/optimizer/name"},
    {"/train", B_TRAIN, "/optimizer/betas", "[0.9,0.99]", NULL, 400, "/optimizer/betas"},
    {"/train", B_TRAIN, "/optimizer", "{\"name\":\"adam\",\"momentum\":0.9}", NULL, 400, "/optimizer/momentum"},
    {"/train", B_TRAIN, "/optimizer", "{\"name\":\"rmsprop\",\"amsgrad\":true}", NULL, 400, "/optimizer/amsgrad"},
    {"/train", B_TRAIN, "/optimizer", "{\"name\":\"adamw\",\"nesterov\":true}", NULL, 400, "/optimizer/nesterov"},
    {"/train", B_TRAIN, "/optimizer/lr", "-0.1", NULL, 400, "/optimizer/lr"},
    {"/train", B_TRAIN, "/optimizer", "{\"name\":\"adam\",\"betas\":[0.9]}", NULL, 400, "/optimizer/betas"},
    {"/train", B_TRAIN, "/optimizer", "{\"name\":\"adam\",\"betas\":[0.9,1.5]}", NULL, 400, "/optimizer/betas"},
    {"/train", B_TRAIN, "/optimizer", "{\"name\":\"sgd\",\"nesterov\":true}", NULL, 400, "/optimizer"},
    {"/train", B_TRAIN, "/epochs", "0", NULL, 400, "/epochs"},
    {"/train", B_TRAIN, "/epochs", "\"2\"", NULL, 400, "/epochs"},
    {"/train", B_TRAIN, "/batch_size", "0", NULL, 400, "/batch_size"},
    {"/train", B_TRAIN, "/shuffle", "\"yes\"", NULL, 400, "/shuffle"},
    {"/train", B_TRAIN, "/seed", "-3", NULL, 400, "/seed"},
    {"/train", B_TRAIN, "/optimizer_state", "{\"step\":-1,\"buffers\":{}}", NULL, 400, "/optimizer_state/step"},
    {"/train", B_TRAIN, "/optimizer_state", "{\"step\":1,\"buffers\":{\"velocity\":[]}}", NULL, 400, "/optimizer_state/buffers/velocity"},
    {"/train", B_TRAIN, "/optimizer_state", "{\"step\":1,\"buffers\":{\"momentum_buffer\":[{\"weight\":[[1]],\"bias\":[1]}]}}", NULL, 400, "/optimizer_state/buffers/momentum_buffer"},
    {"/train", B_TRAIN, "/optimizer_state", "{\"step\":1}", NULL, 400, "/optimizer_state/buffers"},
    {"/gradcheck", B_MSE, "/eps", "0", NULL, 400, "/eps"},
    {"/gradcheck", B_MSE, "/eps", "-1e-6", NULL, 400, "/eps"},
    {"/gradcheck", B_MSE, "/epochs", "3", NULL, 400, "/epochs"},
    /* found by fuzzing (tests/fuzz/regressions/): bytes that are not UTF-8
     * quoted by the parser's message (the problem must still be JSON), and
     * base64 whose padding disagrees with its length (it once decoded past
     * the tensor's buffer); a key cut mid-character in a long pointer */
    {"/gradients", 0, NULL, NULL, "{\"\\\xdb\xba\xe1" "1", 400, NULL},
    {"/gradients", 0, NULL, NULL, "{\"network\":\xc3(}", 400, NULL},
    {"/gradients", B_MSE, "/inputs", "{\"shape\":[2,2],\"dtype\":\"float32\",\"b64\":\"AAAAAAAAAAAAAAAAAAAAAAAA\"}", NULL, 400, "/inputs/b64"},
    {"/gradients", B_MSE, "/inputs", "{\"shape\":[2,2],\"dtype\":\"float64\",\"b64\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=A\"}", NULL, 400, "/inputs/b64"},
    {"/gradients", B_MSE, "/network/\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\x41", "1", NULL, 400, NULL},
    /* typed layers and image inputs */
    {"/gradients", B_IMG, "/network/inputs", "[1,2]", NULL, 400, "/network/inputs"},
    {"/gradients", B_IMG, "/network/inputs", "[1,0,3]", NULL, 400, "/network/inputs/1"},
    {"/gradients", B_IMG, "/network/inputs", "[1,2,\"3\"]", NULL, 400, "/network/inputs/2"},
    {"/gradients", B_IMG, "/network/inputs", "[1,2,3,4]", NULL, 400, "/network/inputs"},
    {"/gradients", B_IMG, "/network/layers/0/type", "\"conv9\"", NULL, 400, "/network/layers/0/type"},
    {"/gradients", B_IMG, "/network/layers/0/type", "5", NULL, 400, "/network/layers/0/type"},
    {"/gradients", B_IMG, "/network/layers/0/units", "3", NULL, 400, "/network/layers/0/units"},
    {"/gradients", B_IMG, "/network/layers/0/activation", "\"relu\"", NULL, 400, "/network/layers/0/activation"},
    {"/gradients", B_IMG, "/network/layers/0", "{\"units\":2,\"activation\":\"tanh\"}", NULL, 400, "/network/layers/0/type"},
    {"/gradients", B_IMG, "/params/0/weight", "[1]", NULL, 400, "/params/0/weight"},
    {"/gradients", B_IMG, "/params/0", "[]", NULL, 400, "/params/0"},
    {"/gradients", B_IMG, "/inputs", "[[1,2,3,4,5,6],[1,2,3,4,5,6]]", NULL, 400, "/inputs"},
    {"/gradients", B_IMG, "/inputs", "[[[[1,2,3]]],[[[1,2,3]]]]", NULL, 400, "/inputs"},
    {"/gradients", B_IMG, "/inputs", "[[[[1,2,3],[4,5,6]]],[[[1,2,3],[4,5]]]]", NULL, 400, "/inputs/1/0/1"},
    {"/gradients", B_IMG, "/inputs", "[[[[1,2,3],[4,5,6]]],[[1,2,3]]]", NULL, 400, "/inputs/1/0"},
    {"/gradients", B_IMG, "/inputs", "[[[[[1]]]]]", NULL, 400, "/inputs/0/0/0/0"},
    {"/gradients", B_IMG, "/inputs", "{\"shape\":[2,1,2,3],\"data\":[1,2,3,4,5,6,1,2,3,4,5]}", NULL, 400, "/inputs/data"},
    {"/gradients", B_IMG, "/network/inputs", "[4096,4096,4096]", NULL, 422, "/network/inputs"},
    {"/gradients", B_IMG, "/network/inputs", "[65,1,1]", NULL, 422, "/network/inputs/0"},
    {"/gradients", B_CONV, "/network/layers/0/kernel_size", "7", NULL, 400, "/network/layers/0/kernel_size"},
    {"/gradients", B_CONV, "/network/layers/0/kernel_size", "[3,9]", NULL, 400, "/network/layers/0/kernel_size"},
    {"/gradients", B_CONV, "/network/layers/0/kernel_size", "0", NULL, 400, "/network/layers/0/kernel_size"},
    {"/gradients", B_CONV, "/network/layers/0/kernel_size", "[3,3,3]", NULL, 400, "/network/layers/0/kernel_size"},
    {"/gradients", B_CONV, "/network/layers/0/kernel_size", "\"3\"", NULL, 400, "/network/layers/0/kernel_size"},
    {"/gradients", B_CONV, "/network/layers/0/kernel_size", DEL, NULL, 400, "/network/layers/0/kernel_size"},
    {"/gradients", B_CONV, "/network/layers/0/kernel_size", "4294967299", NULL, 400, "/network/layers/0/kernel_size"},
    {"/gradients", B_CONV, "/network/layers/0/out_channels", "0", NULL, 400, "/network/layers/0/out_channels"},
    {"/gradients", B_CONV, "/network/layers/0/out_channels", DEL, NULL, 400, "/network/layers/0/out_channels"},
    {"/gradients", B_CONV, "/network/layers/0/stride", "0", NULL, 400, "/network/layers/0/stride"},
    {"/gradients", B_CONV, "/network/layers/0/stride", "[1,0]", NULL, 400, "/network/layers/0/stride"},
    {"/gradients", B_CONV, "/network/layers/0/padding", "-1", NULL, 400, "/network/layers/0/padding"},
    {"/gradients", B_CONV, "/network/layers/0/padding", "1.5", NULL, 400, "/network/layers/0/padding"},
    {"/gradients", B_CONV, "/network/layers/0/units", "2", NULL, 400, "/network/layers/0/units"},
    {"/gradients", B_CONV, "/network/layers/0/activation", "\"softmax\"", NULL, 400, "/network/layers/0/activation"},
    {"/gradients", B_CONV, "/network/inputs", "25", NULL, 400, "/network/layers/0/type"},
    {"/gradients", B_CONV, "/network/layers/2", "{\"type\":\"conv2d\",\"out_channels\":1,\"kernel_size\":1}", NULL, 400, "/network/layers/2/type"},
    {"/gradients", B_CONV, "/params/0/weight", "{\"shape\":[2,3,3],\"data\":[1,0,1,0,1,0,1,0,1,0,1,0,1,0,1,0,1,0]}", NULL, 400, "/params/0/weight"},
    {"/gradients", B_CONV, "/params/0/weight", "[[[[1,0,1],[0,1,0],[1,0,1]]],[[[0,1,0],[1,0,1],[0,1,0]]],[[[1,1,1],[1,1,1],[1,1,1]]]]", NULL, 400, "/params/0/weight"},
    {"/gradients", B_CONV, "/params/0/bias", "[0]", NULL, 400, "/params/0/bias"},
    {"/gradients", B_CONV, "/params/1", "{\"weight\":[1]}", NULL, 400, "/params/1/weight"},
    {"/gradients", B_CONV, "/inputs", "{\"shape\":[1,1,5,4],\"data\":[1,2,3,4,1,2,3,4,1,2,3,4,1,2,3,4,1,2,3,4]}", NULL, 400, "/inputs"},
    {"/gradients", B_CONV, "/network/layers/1", "{\"type\":\"max_pool2d\",\"kernel_size\":4}", NULL, 400, "/network/layers/1/kernel_size"},
    {"/gradients", B_CONV, "/network/layers/1", "{\"type\":\"avg_pool2d\",\"kernel_size\":2,\"padding\":2}", NULL, 400, "/network/layers/1/padding"},
    {"/gradients", B_CONV, "/network/layers/1", "{\"type\":\"max_pool2d\",\"kernel_size\":0}", NULL, 400, "/network/layers/1/kernel_size"},
    {"/gradients", B_CONV, "/network/layers/1", "{\"type\":\"max_pool2d\",\"kernel_size\":2,\"stride\":0}", NULL, 400, "/network/layers/1/stride"},
    {"/gradients", B_CONV, "/network/layers/1", "{\"type\":\"max_pool2d\"}", NULL, 400, "/network/layers/1/kernel_size"},
    {"/gradients", B_CONV, "/network/layers/1", "{\"type\":\"avg_pool2d\",\"kernel_size\":2,\"activation\":\"relu\"}", NULL, 400, "/network/layers/1/activation"},
    {"/gradients", B_CONV, "/network/layers/1", "{\"type\":\"avg_pool2d\",\"kernel_size\":2,\"out_channels\":3}", NULL, 400, "/network/layers/1/out_channels"},
    {"/gradients", B_MSE, "/network/layers/0", "{\"type\":\"max_pool2d\",\"kernel_size\":2}", NULL, 400, "/network/layers/0/type"},
    {"/gradients", B_CONV, "/network/layers/1", "{\"type\":\"dropout\",\"p\":1}", NULL, 400, "/network/layers/1/p"},
    {"/gradients", B_CONV, "/network/layers/1", "{\"type\":\"dropout\",\"p\":-0.1}", NULL, 400, "/network/layers/1/p"},
    {"/gradients", B_CONV, "/network/layers/1", "{\"type\":\"dropout\",\"p\":\"0.5\"}", NULL, 400, "/network/layers/1/p"},
    {"/gradients", B_CONV, "/network/layers/1", "{\"type\":\"dropout\"}", NULL, 400, "/network/layers/1/p"},
    {"/gradients", B_CONV, "/network/layers/1", "{\"type\":\"dropout\",\"p\":0.5,\"units\":3}", NULL, 400, "/network/layers/1/units"},
    {"/gradients", B_CONV, "/seed", "-1", NULL, 400, "/seed"},
    {"/gradients", B_CONV, "/seed", "0.5", NULL, 400, "/seed"},
    {"/gradcheck", B_CONV, "/seed", "\"1\"", NULL, 400, "/seed"},
    {"/forward", B_CONV, "/train", "\"yes\"", NULL, 400, "/train"},
    {"/forward", B_CONV, "/return", "{\"masks\":true}", NULL, 400, "/return"},
    {"/gradients", B_CONV, "/return", "{\"masks\":1}", NULL, 400, "/return/masks"},
    {"/gradients", B_CONV, "/network/layers/1", "{\"type\":\"layer_norm\",\"eps\":0}", NULL, 400, "/network/layers/1/eps"},
    {"/gradients", B_CONV, "/network/layers/1", "{\"type\":\"layer_norm\",\"eps\":-1e-5}", NULL, 400, "/network/layers/1/eps"},
    {"/gradients", B_CONV, "/network/layers/1", "{\"type\":\"layer_norm\",\"units\":4}", NULL, 400, "/network/layers/1/units"},
    {"/gradients", B_CONV, "/network/layers/1", "{\"type\":\"layer_norm\",\"activation\":\"swish\"}", NULL, 400, "/network/layers/1/activation"},
    {"/gradients", B_CONV, "/params/1", "{\"weight\":[1,1]}", NULL, 400, "/params/1"},
    {"/gradients", 0, NULL, NULL, "{\"network\":{\"inputs\":2,\"layers\":[{\"units\":1,\"activation\":\"tanh\"},{\"type\":\"layer_norm\"}]},\"init\":{},\"inputs\":[[1,2]],\"targets\":[[1]]}", 400, "/network/layers/1/type"},
    {"/gradients", B_CONV, "/network/layers/1", "{\"type\":\"batch_norm\",\"momentum\":1.5}", NULL, 400, "/network/layers/1/momentum"},
    {"/gradients", B_CONV, "/network/layers/1", "{\"type\":\"batch_norm\",\"eps\":0}", NULL, 400, "/network/layers/1/eps"},
    {"/gradients", B_CONV, "/network/layers/1", "{\"type\":\"batch_norm\",\"p\":0.5}", NULL, 400, "/network/layers/1/p"},
    {"/gradients", 0, NULL, NULL, "{\"network\":{\"inputs\":2,\"layers\":[{\"type\":\"batch_norm\"},{\"units\":1,\"activation\":\"linear\"}]},\"init\":{},\"inputs\":[[1,2]],\"targets\":[[1]]}", 400, "/inputs"},
    {"/gradients", 0, NULL, NULL, "{\"network\":{\"inputs\":2,\"layers\":[{\"type\":\"batch_norm\"},{\"units\":1,\"activation\":\"linear\"}]},\"params\":[{\"weight\":[1,1],\"bias\":[0,0],\"running_var\":[1,-1]},{\"weight\":[[1,1]],\"bias\":[0]}],\"inputs\":[[1,2],[3,4]],\"targets\":[[1],[2]]}", 400, "/params/0/running_var"},
    {"/gradients", 0, NULL, NULL, "{\"network\":{\"inputs\":2,\"layers\":[{\"type\":\"batch_norm\"},{\"units\":1,\"activation\":\"linear\"}]},\"params\":[{\"weight\":[1,1],\"bias\":[0,0],\"running_mean\":[0]},{\"weight\":[[1,1]],\"bias\":[0]}],\"inputs\":[[1,2],[3,4]],\"targets\":[[1],[2]]}", 400, "/params/0/running_mean"},
    {"/train", 0, NULL, NULL, "{\"network\":{\"inputs\":2,\"layers\":[{\"type\":\"batch_norm\"},{\"units\":1,\"activation\":\"linear\"}]},\"init\":{},\"inputs\":[[1,2],[3,4],[5,6]],\"targets\":[[1],[2],[3]],\"optimizer\":{\"name\":\"sgd\"},\"batch_size\":2}", 400, "/inputs"},
    {"/gradients", B_CONV, "/network/layers/0/out_channels", "65", NULL, 422, "/network/layers/0/out_channels"},
    {"/gradients", B_CONV, "/network/layers/0", "{\"type\":\"conv2d\",\"out_channels\":8,\"kernel_size\":1}", NULL, 422, "/network/layers/0/out_channels"},
    {"/gradients", B_CONV, "/network/layers/0/padding", "40", NULL, 422, "/network/layers/0/kernel_size"},
    /* limits (422 naming the limit) */
    {"/gradients", B_CE, "/network/layers/0/units", "100", NULL, 422, "/network/layers/0/units"},
    {"/train", B_TRAIN, "/epochs", "60", NULL, 422, "/epochs"},
    /* steps so many that their loss history alone passes the memory budget:
     * still the steps' limit that refuses them, not the budget */
    {"/train", B_TRAIN, "/epochs", "1000000000000", NULL, 422, "/epochs"},
};

static int pointer_matches(const json_t *p, const char *want)
{
    json_t *errs = json_object_get(p, "errors");
    size_t i, n = strlen(want);
    json_t *e;
    json_array_foreach(errs, i, e) {
        const char *ptr = json_string_value(json_object_get(e, "pointer"));
        if (!ptr) continue;
        if (!strcmp(ptr, want)) return 1;
        if (*want && !strncmp(ptr, want, n) && ptr[n] == '/') return 1;
    }
    return 0;
}

/* Sets (or with value NULL deletes) what pointer names in root. */
static int set_at(json_t *root, const char *pointer, const char *value)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", pointer);
    char *last = strrchr(buf, '/');
    *last = 0;
    const char *key = last + 1;
    json_t *parent = root;
    for (char *save = NULL, *tok = strtok_r(buf, "/", &save); tok; tok = strtok_r(NULL, "/", &save))
        parent = json_is_array(parent) ? json_array_get(parent, strtoul(tok, NULL, 10))
                                       : json_object_get(parent, tok);
    json_t *v = value ? json_loads(value, JSON_DECODE_ANY, NULL) : NULL;
    if (value && !v) return -1;
    if (json_is_object(parent)) {
        if (v) json_object_set_new(parent, key, v);
        else json_object_del(parent, key);
        return 0;
    }
    if (json_is_array(parent)) {
        size_t i = strtoul(key, NULL, 10);
        if (v) json_array_set_new(parent, i, v);
        else json_array_remove(parent, i);
        return 0;
    }
    json_decref(v);
    return -1;
}

static void run_hostile(const hostile *h, size_t idx)
{
    char *body = NULL;
    if (h->raw) {
        body = strdup(h->raw);
    } else {
        const char *base = h->base == B_CE      ? base_ce
                           : h->base == B_TRAIN ? base_train
                           : h->base == B_IMG   ? base_img
                           : h->base == B_CONV  ? base_conv
                                                : base_mse;
        json_t *j = json_loads(base, 0, NULL);
        CHECK(j && set_at(j, h->path, h->value) == 0, "case %zu: bad table entry", idx);
        body = json_dumps(j, JSON_COMPACT);
        json_decref(j);
    }
    http_response r;
    json_t *p = api_call(NULL, "POST", h->route, NULL, body, strlen(body), h->status, &r);
    const char *ct = http_header_get(&r, "Content-Type");
    CHECK(ct && !strncmp(ct, "application/problem+json", 24), "case %zu: content type %s", idx,
          ct ? ct : "(none)");
    CHECK(p && json_integer_value(json_object_get(p, "status")) == h->status,
          "case %zu: problem status", idx);
    if (h->pointer) {
        int ok = p && pointer_matches(p, h->pointer);
        char *errs = p ? json_dumps(json_object_get(p, "errors"), JSON_COMPACT) : NULL;
        CHECK(ok, "case %zu (%s %s=%s): errors[] does not name %s: %s", idx, h->route,
              h->path ? h->path : "raw", h->value ? h->value : "(deleted)", h->pointer,
              errs ? errs : "(none)");
        free(errs);
    }
    if (h->status == 422) {
        const char *lim = json_string_value(json_object_get(p, "limit"));
        const char *d = json_string_value(json_object_get(p, "detail"));
        CHECK((lim && !strncmp(lim, "max_", 4)) || (d && strstr(d, "max")),
              "case %zu: 422 does not name the limit (limit %s, detail %s)", idx,
              lim ? lim : "-", d ? d : "-");
    }
    json_decref(p);
    http_response_free(&r);
    free(body);
}

static void test_hostile_table(void)
{
    size_t n = sizeof table / sizeof *table;
    CHECK(n >= 40, "only %zu cases", n);
    for (size_t i = 0; i < n; i++) run_hostile(&table[i], i);
    json_decref(api_call(NULL, "GET", "/health/live", NULL, NULL, 0, 200, NULL));
}

/* fastjson's markers (wire/fastjson.h) cannot be forged: a number a client
 * writes where a tensor goes, equal to a marker (10^13 + i) or to the index
 * i of a packed tensor, is refused as what it is, also where no tensor is
 * packed (a batch_norm's running_mean). Here the packed tensors are, in text
 * order, layer 0's weight (0) and bias (1, shape [3], as running_mean's),
 * layer 1's weight (2) and bias (3), ...: a marker read as an index or a
 * client's number read as a marker would answer 200 or another problem. */
static void test_markers_not_forged(void)
{
    static const char *const body =
        "{\"network\":{\"inputs\":2,\"layers\":[{\"units\":3,\"activation\":\"linear\"},"
        "{\"type\":\"batch_norm\",\"activation\":\"relu\"},{\"units\":1,\"activation\":"
        "\"linear\"}],\"loss\":\"mse\"},\"params\":[{\"weight\":[[1,2],[3,4],[5,6]],"
        "\"bias\":[0,0.5,0]},{\"weight\":[1,1,1],\"bias\":[0,0,0],\"running_mean\":%s,"
        "\"running_var\":[1,1,1]},{\"weight\":[[1,-1,1]],\"bias\":[0]}],"
        "\"inputs\":%s,\"targets\":[[1],[2]]}";
    static const char *const inputs = "[[1,2],[3,4]]";
    static const char *const forged[] = {"1", "0", "10000000000001", "10000000000000",
                                         "10000000000003"};
    char text[1024];
    snprintf(text, sizeof text, body, "[0,0,0]", inputs);
    json_decref(api_post_text("/gradients", text, 200));
    for (size_t i = 0; i < sizeof forged / sizeof *forged; i++)
        for (int at = 0; at < 2; at++) {
            snprintf(text, sizeof text, body, at ? "[0,0,0]" : forged[i], at ? forged[i] : inputs);
            const char *want = at ? "/inputs" : "/params/1/running_mean";
            json_t *p = api_post_text("/gradients", text, 400);
            json_t *e = json_array_get(json_object_get(p, "errors"), 0);
            const char *ptr = json_string_value(json_object_get(e, "pointer"));
            const char *d = json_string_value(json_object_get(e, "detail"));
            CHECK(json_array_size(json_object_get(p, "errors")) == 1 && ptr && !strcmp(ptr, want) &&
                      d && !strncmp(d, "must be a tensor:", 17),
                  "%s at %s: %s %s", forged[i], want, ptr ? ptr : "-", d ? d : "-");
            json_decref(p);
        }
}

/* Tensors' pointers are written only for an error (wire/problem.h,
 * json_ptr): each names the whole way down to the element, with keys escaped
 * (RFC 6901), at every depth of a tensor (batch, params, optimizer state). */
static void test_tensor_pointers_exact(void)
{
    static const struct {
        const char *route;
        int base;
        const char *path, *value, *pointer;
    } cases[] = {
        {"/gradients", B_MSE, "/params/1/weight", "[[1,1,\"x\"]]", "/params/1/weight/0/2"},
        {"/gradients", B_MSE, "/params/0/bias", "{\"shape\":[3],\"data\":[0,1e300,0]}",
         "/params/0/bias/data/1"},
        {"/gradients", B_MSE, "/params/0", "{\"weight\":[[0,0],[0,0],[0,0]],\"bias\":[0,0,0],"
         "\"a/b~c\":1}", "/params/0/a~1b~0c"},
        {"/gradients", B_MSE, "/params/1", "{\"weight\":{\"shape\":[1,-3],\"data\":[]},"
         "\"bias\":[0]}", "/params/1/weight/shape/1"},
        {"/gradients", B_MSE, "/params/1", "{\"weight\":{\"shape\":[1,3],\"dtype\":\"float32\","
         "\"b64\":\"AAAA\"},\"bias\":[0]}", "/params/1/weight/b64"},
        {"/gradients", B_MSE, "/inputs", "[[[[[1]]]]]", "/inputs/0/0/0/0"},
        {"/gradients", B_MSE, "/targets", "[[1],[1e300]]", "/targets/1/0"},
        {"/train", B_TRAIN, "/optimizer_state", "{\"step\":1,\"buffers\":{\"momentum_buffer\":"
         "[{\"weight\":[[0,0],[0,0],[0,0]],\"bias\":[0,0,0]},{\"weight\":[[0,\"x\",0]],"
         "\"bias\":[0]}]}}", "/optimizer_state/buffers/momentum_buffer/1/weight/0/1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        json_t *j = json_loads(cases[i].base == B_TRAIN ? base_train : base_mse, 0, NULL);
        if (cases[i].base == B_TRAIN) /* momentum, so that the state has a buffer */
            set_at(j, "/optimizer", "{\"name\":\"sgd\",\"momentum\":0.9}");
        CHECK(j && set_at(j, cases[i].path, cases[i].value) == 0, "case %zu: bad entry", i);
        char *body = json_dumps(j, JSON_COMPACT);
        json_t *p = api_post_text(cases[i].route, body, 400);
        json_t *e = json_array_get(json_object_get(p, "errors"), 0);
        const char *ptr = json_string_value(json_object_get(e, "pointer"));
        CHECK(ptr && !strcmp(ptr, cases[i].pointer), "case %zu: pointer %s, not %s", i,
              ptr ? ptr : "(none)", cases[i].pointer);
        json_decref(p);
        free(body);
        json_decref(j);
    }
}

/* Malformed JSON: the detail gives the line and column. */
static void test_malformed_json_detail(void)
{
    const char *body = "{\n  \"network\": {\n    \"inputs\": 2,,\n  }\n}";
    json_t *p = api_post_text("/forward", body, 400);
    const char *d = json_string_value(json_object_get(p, "detail"));
    CHECK(d && strstr(d, "line") && strstr(d, "3") && strstr(d, "column"),
          "detail without line 3 and column: %s", d ? d : "(none)");
    CHECK(p && !strcmp(api_problem_slug(p), "malformed-json"), "type %s",
          p ? api_problem_slug(p) : "");
    json_decref(p);
    /* a body with a NUL byte */
    const char nul[] = "{\"network\":\0}";
    p = api_call(NULL, "POST", "/forward", NULL, nul, sizeof nul - 1, 400, NULL);
    json_decref(p);
}

/* Deeply nested arrays, many keys, long strings: refused, server alive. */
static void test_resource_abuse(void)
{
    size_t depth = 50000;
    char *deep = malloc(depth * 2 + 64);
    size_t k = (size_t)sprintf(deep, "{\"inputs\":");
    for (size_t i = 0; i < depth; i++) deep[k++] = '[';
    for (size_t i = 0; i < depth; i++) deep[k++] = ']';
    deep[k++] = '}';
    json_t *p = api_call(NULL, "POST", "/forward", NULL, deep, k, 400, NULL);
    json_decref(p);
    free(deep);
    /* an unknown key of 100 KB: 400, and the pointer does not echo all of it */
    size_t n = 100000;
    char *big = malloc(n + 64);
    k = (size_t)sprintf(big, "{\"");
    memset(big + k, 'k', n);
    k += n;
    k += (size_t)sprintf(big + k, "\":1}");
    http_response r;
    p = api_call(NULL, "POST", "/forward", NULL, big, k, 400, &r);
    CHECK(r.body_len < 20000, "problem of %zu bytes echoes the key", r.body_len);
    json_decref(p);
    http_response_free(&r);
    free(big);
    json_decref(api_call(NULL, "GET", "/health/live", NULL, NULL, 0, 200, NULL));
}

static void test_limits_name_the_limit(void)
{
    /* parameters: 60 x 60 + 60 = 3660 > 2000, every size under its own limit */
    const char *params = "{\"network\":{\"inputs\":60,\"layers\":[{\"units\":60,\"activation\":"
                         "\"relu\"}],\"loss\":\"mse\"},\"inputs\":{\"shape\":[1,60],\"dtype\":"
                         "\"float32\",\"b64\":\"%s\"},\"targets\":{\"shape\":[1,60],\"data\":[%s]}}";
    char *zeros = calloc(60 * 4, 1);
    char *b64 = api_b64_encode(zeros, 60 * 4);
    char data[400] = "0";
    for (int i = 1; i < 60; i++) strcat(data, ",0");
    char body[2000];
    snprintf(body, sizeof body, params, b64, data);
    json_t *p = api_post_text("/gradients", body, 422);
    const char *lim = json_string_value(json_object_get(p, "limit"));
    const char *d = json_string_value(json_object_get(p, "detail"));
    CHECK((lim && !strcmp(lim, "max_params")) || (d && (strstr(d, "max_params") || strstr(d, "max-params"))),
          "max_params not named: limit %s detail %s", lim ? lim : "-", d ? d : "-");
    CHECK(p && !strcmp(api_problem_slug(p), "limit-exceeded"), "type %s", p ? api_problem_slug(p) : "");
    json_decref(p);
    free(zeros);
    free(b64);
    /* layers: 5 > 4 */
    p = api_post_text("/forward",
                      "{\"network\":{\"inputs\":1,\"layers\":[{\"units\":1,\"activation\":\"relu\"},"
                      "{\"units\":1,\"activation\":\"relu\"},{\"units\":1,\"activation\":\"relu\"},"
                      "{\"units\":1,\"activation\":\"relu\"},{\"units\":1,\"activation\":\"relu\"}]},"
                      "\"inputs\":[[1]]}",
                      422);
    CHECK(p && pointer_matches(p, "/network/layers"), "max_layers: pointer");
    json_decref(p);
    /* batch elements: 100 rows x 60 wide = 6000 > 5000 */
    char *xs = calloc(100 * 60 * 4, 1);
    char *xb = api_b64_encode(xs, 100 * 60 * 4);
    char *body2 = malloc(strlen(xb) + 300);
    sprintf(body2, "{\"network\":{\"inputs\":60,\"layers\":[{\"units\":2,\"activation\":\"relu\"}]},"
                   "\"inputs\":{\"shape\":[100,60],\"dtype\":\"float32\",\"b64\":\"%s\"}}", xb);
    p = api_post_text("/forward", body2, 422);
    lim = json_string_value(json_object_get(p, "limit"));
    d = json_string_value(json_object_get(p, "detail"));
    CHECK((lim && !strcmp(lim, "max_batch_elems")) || (d && strstr(d, "batch")),
          "max_batch_elems not named: limit %s detail %s", lim ? lim : "-", d ? d : "-");
    CHECK(p && pointer_matches(p, "/inputs"), "max_batch_elems: pointer");
    json_decref(p);
    free(xs);
    free(xb);
    free(body2);
}

/* The bases of the table are valid requests (else every case would pass for
 * the wrong reason), and the typed layers' limits name the right one. */
static void test_bases_valid_and_layer_limits(void)
{
    const char *bases[] = {base_mse, base_ce, base_img, base_conv};
    for (size_t i = 0; i < sizeof bases / sizeof *bases; i++)
        json_decref(api_post_text("/gradients", bases[i], 200));
    json_decref(api_post_text("/train", base_train, 200));
    static const struct {
        const char *path, *value, *limit;
    } cases[] = {
        {"/network/layers/0/out_channels", "65", "max_units"},
        {"/network/layers/0", "{\"type\":\"conv2d\",\"out_channels\":8,\"kernel_size\":1}",
         "max_units"},
        {"/network/layers/0/padding", "40", "max_batch_elems"},
        {"/network/layers/0/out_channels", "60", "max_params"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        json_t *j = json_loads(base_conv, 0, NULL);
        CHECK(j && set_at(j, cases[i].path, cases[i].value) == 0, "case %zu", i);
        if (i == 3) { /* 60 x (2 x 5 x 5) + 60 = 3060 params > 2000; rows of 50 and 60 */
            set_at(j, "/network/layers/0/kernel_size", "5");
            set_at(j, "/network/inputs", "[2,5,5]");
        }
        json_t *p = api_post_new("/gradients", j, 422);
        const char *lim = json_string_value(json_object_get(p, "limit"));
        CHECK(lim && !strcmp(lim, cases[i].limit), "case %zu: limit %s, want %s", i,
              lim ? lim : "-", cases[i].limit);
        json_decref(p);
    }
}

/* 413 from Content-Length alone: the body is never sent. */
static void test_413_before_body(void)
{
    const char *req = "POST /train HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      "Content-Type: application/json\r\nContent-Length: 1000000000\r\n\r\n";
    char *reply = NULL;
    double t0 = api_now();
    long n = http_raw(api_srv.port, req, strlen(req), &reply, 5000);
    double dt = api_now() - t0;
    CHECK(n > 0 && http_raw_status(reply) == 413, "raw: status %d (%ld bytes in %.3f s): %.200s",
          http_raw_status(reply), n, dt, reply ? reply : "");
    CHECK(reply && strstr(reply, "application/problem+json"), "raw 413 is not problem+json");
    CHECK(reply && (strstr(reply, "Access-Control-Allow-Origin") || strstr(reply, "access-control-allow-origin")),
          "raw 413 without CORS");
    free(reply);

    /* with Expect: 100-continue, curl must not have to upload the body */
    http_client *c = http_client_new(api_srv.port, NULL);
    http_response r;
    const char *h[] = {"Expect: 100-continue", NULL};
    int rc = http_request_upload(c, "POST", "/gradients", h, 50LL * 1000 * 1000, 50u * 1000 * 1000, &r);
    CHECK(rc == 0 && r.status == 413, "expect: status %ld (%s)", r.status, r.curl_error);
    CHECK(r.bytes_sent < 1000000, "expect: %zu body bytes were uploaded before the 413",
          r.bytes_sent);
    CHECK(r.schema_error[0] == 0, "contract: %s", r.schema_error);
    http_response_free(&r);
    http_client_free(c);
    /* just over the limit (200000) */
    c = http_client_new(api_srv.port, NULL);
    rc = http_request_upload(c, "POST", "/forward", NULL, 200001, 200001, &r);
    CHECK(rc == 0 && r.status == 413, "200001 bytes: status %ld", r.status);
    http_response_free(&r);
    http_client_free(c);
    json_decref(api_call(NULL, "GET", "/health/live", NULL, NULL, 0, 200, NULL));
}

/* Chunked uploads: counted while read, 413 past the limit; fine under it. */
static void test_chunked(void)
{
    http_client *c = http_client_new(api_srv.port, NULL);
    http_response r;
    int rc = http_request_upload(c, "POST", "/forward", NULL, -1, 300000, &r);
    CHECK(rc == 0 && r.status == 413, "chunked 300000 bytes: status %ld (%s)", r.status,
          r.curl_error);
    CHECK(r.schema_error[0] == 0, "contract: %s", r.schema_error);
    http_response_free(&r);
    http_client_free(c);

    /* a valid request, chunked by hand */
    const char *json = "{\"network\":{\"inputs\":1,\"layers\":[{\"units\":1,\"activation\":\"linear\"}],"
                       "\"loss\":\"mse\"},\"params\":[{\"weight\":[[2]],\"bias\":[1]}],"
                       "\"inputs\":[[3]],\"targets\":[[5]]}";
    size_t len = strlen(json), half = len / 2;
    char req[2048];
    int k = snprintf(req, sizeof req,
                     "POST /gradients HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n%zx\r\n%.*s\r\n%zx\r\n%s\r\n0\r\n\r\n",
                     half, (int)half, json, len - half, json + half);
    char *reply = NULL;
    long n = http_raw(api_srv.port, req, (size_t)k, &reply, 5000);
    CHECK(n > 0 && http_raw_status(reply) == 200, "chunked valid: %.300s", reply ? reply : "");
    /* loss (2*3+1-5)^2 = 4 */
    CHECK(reply && strstr(reply, "\"loss\""), "chunked: no loss");
    free(reply);
}

/* HTTP-level garbage: the server answers or closes, and keeps serving. */
static void test_garbage_http(void)
{
    const char *reqs[] = {
        "GARBAGE\r\n\r\n",
        "POST /forward HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
        "POST /forward HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        "POST /forward HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n{\"a\"",
        "GET /health/live HTTP/9.9\r\n\r\n",
        "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
    };
    for (size_t i = 0; i < sizeof reqs / sizeof *reqs; i++) {
        char *reply = NULL;
        http_raw(api_srv.port, reqs[i], strlen(reqs[i]), &reply, 1500);
        int st = http_raw_status(reply);
        CHECK(st == 0 || (st >= 400 && st < 600), "garbage %zu answered %d", i, st);
        free(reply);
    }
    json_decref(api_call(NULL, "GET", "/health/live", NULL, NULL, 0, 200, NULL));
}

int main(void)
{
    if (api_load_schema()) {
        printf("FAIL load_openapi\n0 passed, 1 failed\n");
        return 1;
    }
    /* GRADSERVE_HOSTILE_ROUNDS=N (bench/concurrency.sh): every case N times
     * against the one server, and its VmRSS (kB) idle, after round 1, after
     * round N and 10 s later: nothing a request does may make it keep memory. */
    const char *env = getenv("GRADSERVE_HOSTILE_ROUNDS");
    int rounds = env && atoi(env) > 1 ? atoi(env) : 1;
    if (api_start(limit_args, NULL) == 0) {
        long rss_idle = server_proc_status(api_srv.pid, "VmRSS"), rss_first = 0;
        for (int round = 1; round <= rounds; round++) {
            RUN(test_hostile_table);
            RUN(test_malformed_json_detail);
            RUN(test_markers_not_forged);
            RUN(test_tensor_pointers_exact);
            RUN(test_resource_abuse);
            RUN(test_limits_name_the_limit);
            RUN(test_bases_valid_and_layer_limits);
            RUN(test_413_before_body);
            RUN(test_chunked);
            RUN(test_garbage_http);
            if (round == 1) rss_first = server_proc_status(api_srv.pid, "VmRSS");
        }
        if (rounds > 1) {
            long rss_last = server_proc_status(api_srv.pid, "VmRSS");
            sleep(10);
            printf("hostile rounds %d rss kB: idle %ld, round 1 %ld, round %d %ld, 10 s after %ld\n",
                   rounds, rss_idle, rss_first, rounds, rss_last,
                   server_proc_status(api_srv.pid, "VmRSS"));
        }
        api_stop();
    }
    api_check_all_responses_valid();
    schema_free(api_schema);
    return CHECK_DONE();
}
