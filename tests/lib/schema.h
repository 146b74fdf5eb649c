/* Validates HTTP responses against openapi.yaml.
 *
 * The contract is read once with libyaml and turned into a jansson tree; the
 * validator implements the JSON Schema subset openapi.yaml uses: $ref (local),
 * type (also arrays of types; "integer" accepts integral reals), properties,
 * required, additionalProperties, propertyNames, items, prefixItems,
 * minItems/maxItems, minLength/maxLength, enum, const, oneOf/anyOf/allOf,
 * minimum/maximum, exclusiveMinimum/exclusiveMaximum, pattern (POSIX ERE).
 * Annotations (description, default, examples, format, contentEncoding, ...)
 * are ignored; any other keyword is reported as unsupported, so a schema the
 * validator does not understand can never pass silently. */
#ifndef GS_TEST_SCHEMA_H
#define GS_TEST_SCHEMA_H

#include <jansson.h>
#include <stddef.h>

typedef struct schema schema;

/* Reads a YAML file into a schema; NULL with a message in err on failure. */
schema *schema_load(const char *path, char *err, size_t errlen);
void schema_free(schema *s);

/* The whole document as JSON (borrowed). */
json_t *schema_doc(const schema *s);

/* YAML text to JSON (new reference) or NULL with err: exposed for tests. */
json_t *schema_yaml_to_json(const char *text, size_t len, char *err, size_t errlen);

/* Resolves a local reference "#/components/schemas/Problem" (borrowed). */
json_t *schema_resolve(const schema *s, const char *ref);

/* 0 when instance is valid against the schema node (a schema object of the
 * document, e.g. from schema_resolve); -1 with the first reason in err. */
int schema_validate(const schema *s, const json_t *schema_node, const json_t *instance,
                    char *err, size_t errlen);
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
