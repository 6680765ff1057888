/* model_register.c - the compare-and-set register over JSON values (the
 * lin-kv workload's) as a lin_model. Its step is lin_register_step
 * (lin_internal.h), which the search also calls directly; a state is the
 * value id itself.
 */
#include "check/lin.h"

#include <stdio.h>
#include <string.h>

#include "check/lin_internal.h"

static void *register_ctx_new(struct lin_values *values)
{
    return values;
}

static void register_ctx_free(void *ctx)
{
    (void)ctx;
}

static bool register_step(void *ctx, const struct lin_op *op, int32_t state, int32_t *next)
{
    (void)ctx;
    return lin_register_step(op, state, next);
}

static void register_describe(void *ctx, int32_t state, char *buf, size_t len)
{
    snprintf(buf, len, "%s", lin_values_text(ctx, state));
}

const struct lin_model lin_register_model = {
    .name = "register",
    .functions = 1u << LIN_READ | 1u << LIN_WRITE | 1u << LIN_CAS,
    .ctx_new = register_ctx_new,
    .ctx_free = register_ctx_free,
    .step = register_step,
    .describe_state = register_describe,
};

const struct lin_model *lin_model_named(const char *name)
{
    const struct lin_model *all[] = {&lin_register_model, &lin_string_model, &lin_expiry_model};
    for (size_t i = 0; name && i < sizeof all / sizeof all[0]; i++)
        if (strcmp(all[i]->name, name) == 0)
            return all[i];
    return NULL;
}
