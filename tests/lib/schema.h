/* Validates HTTP responses against openapi.yaml.
 *
 * The contract is read once with libyaml and turned into a jansson tree. Its
 * schemas are JSON Schema draft 2020-12 (the dialect of OpenAPI 3.1, which
 * the contract must declare); the validator implements these keywords of it:
 * $schema, $ref (within the document: "#" or "#/pointer"), $defs, type
 * ("integer" accepts integral reals), enum, const, minimum, maximum,
 * exclusiveMinimum, exclusiveMaximum, minLength, maxLength, pattern (the part
 * of ECMA-262 that translates exactly to a POSIX ERE), prefixItems, items,
 * minItems, maxItems, properties, patternProperties, additionalProperties,
 * propertyNames, required, allOf, anyOf, oneOf; annotations (description,
 * default, examples, format, content*, ...) do not affect validity.
 *
 * Loading refuses, with an error naming the keyword and where it is, any
 * schema in the document that uses another keyword, a keyword value of the
 * wrong kind, a $ref to another document or a pattern outside that part of
 * ECMA-262: a schema the validator does not understand can never pass
 * silently. tests/test_schema_suite.c runs the official JSON Schema Test
 * Suite's draft 2020-12 cases for these keywords against it. */
#ifndef GS_TEST_SCHEMA_H
#define GS_TEST_SCHEMA_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct schema schema;

/* Reads an OpenAPI 3.1 YAML file and checks every schema in it (media types,
 * headers, parameters, components/schemas, and whatever their $refs reach);
 * NULL with the reason in err when it cannot be read or is refused. */
schema *schema_load(const char *path, char *err, size_t errlen);
/* The same for an OpenAPI document already parsed (borrowed: the schema
 * takes its own reference). */
schema *schema_from_openapi(json_t *doc, char *err, size_t errlen);
/* A standalone JSON Schema document whose root is the schema (borrowed, as
 * above): "#" refers to root. NULL with err when refused. */
schema *schema_from_json(json_t *root, char *err, size_t errlen);
void schema_free(schema *s);

/* The i-th keyword the validator implements (NULL past the last); *annotation
 * (if not NULL) says whether it only annotates. */
const char *schema_keyword(size_t i, bool *annotation);

/* The whole document as JSON (borrowed). */
json_t *schema_doc(const schema *s);

/* YAML text to JSON (new reference) or NULL with err: exposed for tests. */
json_t *schema_yaml_to_json(const char *text, size_t len, char *err, size_t errlen);

/* Resolves a same-document reference "#/components/schemas/Problem" (the
 * fragment percent-decoded, then read as a JSON Pointer); borrowed. */
json_t *schema_resolve(const schema *s, const char *ref);

/* 0 when instance is valid against the schema node (one of the document's,
 * e.g. from schema_resolve); -1 with the first reason in err, also when node
 * is not a schema that loading checked (an ad hoc schema needs
 * schema_from_json). */
int schema_validate(const schema *s, const json_t *node, const json_t *instance, char *err,
                    size_t errlen);
/* The same for the schema at ref ("#" is the root of a schema_from_json
 * document). */
int schema_validate_ref(const schema *s, const char *ref, const json_t *instance, char *err,
                        size_t errlen);

/* Header lookup used by schema_check_response (case-insensitive name). */
typedef const char *(*schema_header_fn)(void *ctx, const char *name);

/* Checks one response: finds the operation for method + path (a templated
 * path "/static/{file}" matches one segment per "{name}"; query string
 * ignored; an unknown path uses components/responses/NotFound and a method
 * the path lacks uses MethodNotAllowed), the response for the status (exact,
 * then "4XX"/"5XX", then "default"), checks the content type is one the
 * response declares (none for an empty response), the headers marked
 * required are present and match their schemas, and the body parses and
 * validates when the media type is JSON. 0 when valid; -1 with err. */
int schema_check_response(const schema *s, const char *method, const char *path, long status,
                          const char *content_type, const char *body, size_t body_len,
                          schema_header_fn header, void *header_ctx, char *err, size_t errlen);

#endif
