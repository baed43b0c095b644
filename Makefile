# The README's two commands: `make demo` and `make test`. Both set everything up first.
NIXDISK = dist/nixdisk.js

.PHONY: setup demo test bench
setup:
	@bash scripts/setup.sh

demo: setup
	rm -rf result
	$(NIXDISK) build examples/store-only.nix -o result
	$(NIXDISK) verify result

test: setup
	npx vitest run $(VITEST_ARGS)

bench: setup
	node dist/bench/check-corpus.js
	node dist/bench/build-store-image.js
