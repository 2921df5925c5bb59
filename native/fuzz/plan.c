/*
 * libFuzzer target for the plan parser (make -C native fuzz): any bytes go
 * through plan_parse, a plan it accepts is walked field by field (so a
 * dangling or unterminated field trips AddressSanitizer), and plan_free
 * releases everything (LeakSanitizer checks).
 */
#include "../src/plan.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t walk_argv(char **v)
{
	size_t n = 0;

	for (; v && *v; v++)
		n += strlen(*v);
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct plan p;
	volatile size_t sum = 0;

	if (plan_parse(&p, "fuzz.plan", (const char *)data, size) == 0) {
		sum += strlen(p.name) + strlen(p.runtime) + walk_argv(p.argv) + walk_argv(p.env);
		sum += walk_argv(p.cgroup1) + walk_argv(p.cgroup_kill) + walk_argv(p.ttys);
		sum += walk_argv(p.netdevs) + walk_argv(p.idmapped);
		for (int i = 0; i < p.nrecs; i++)
			sum += walk_argv(p.recs[i].f);
		for (int i = 0; i < p.nhooks; i++)
			sum += walk_argv(p.hooks[i]);
		for (int i = 0; i < p.nstop_hooks; i++)
			sum += walk_argv(p.stop_hooks[i]);
		for (int i = 0; i < p.nnets; i++)
			sum += walk_argv(p.nets[i]);
		for (int i = 0; i < p.conf.nrules; i++)
			sum += p.conf.rules[i].name ? strlen(p.conf.rules[i].name) : 0;
	}
	plan_free(&p);
	(void)sum;
	return 0;
}
