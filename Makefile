# The README's two commands: `make demo` and `make test`. Both set everything up first.
# `make test-as-user` (root only) runs the integration tests again as an ordinary user,
# as CI does after `make test`; see .ci/as-ordinary-user.
NIXDISK = dist/nixdisk.js

.PHONY: setup demo test test-as-user bench
setup:
	@bash scripts/setup.sh

demo: setup
	rm -rf result
	$(NIXDISK) build examples/store-only.nix -o result
	$(NIXDISK) verify result

test: setup
	npx vitest run $(VITEST_ARGS)

test-as-user: setup
	bash .ci/as-ordinary-user $(if $(JSON_REPORT),--json $(JSON_REPORT)) $(VITEST_FILTERS)

bench: setup
	node dist/bench/check-corpus.js
	node dist/bench/build-store-image.js
	node dist/bench/esp.js
