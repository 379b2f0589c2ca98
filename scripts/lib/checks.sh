# shellcheck shell=bash
# Checks for the end-to-end scripts: each prints "ok NAME" or "FAIL NAME"
# with the output that explains it, and counts; summary prints the closing
# line ("NAME: N passed, N failed") and fails if anything did.

passed=0
failed=0

# check NAME CMD...: CMD must succeed.
check() {
	local name=$1 out
	shift
	if out=$("$@" 2>&1); then
		passed=$((passed + 1))
		echo "ok   $name"
	else
		failed=$((failed + 1))
		echo "FAIL $name"
		echo "$out" | sed 's/^/     /' | tail -n 15
	fi
}

# expect_fail NAME PATTERN CMD...: CMD must fail and print PATTERN.
expect_fail() {
	local name=$1
	shift
	check "$name" fails "$@"
}

# fails PATTERN CMD...: CMD fails and prints PATTERN.
fails() {
	local pattern=$1 out
	shift
	if out=$("$@" 2>&1); then
		echo "succeeded, want failure: $out"
		return 1
	fi
	grep -qE -- "$pattern" <<<"$out" || {
		echo "error does not match /$pattern/: $out"
		return 1
	}
}

# outputs PATTERN CMD...: CMD succeeds and its output matches PATTERN.
outputs() {
	local pattern=$1 out
	shift
	out=$("$@") || {
		echo "$out" | tail -n 20
		return 1
	}
	grep -qE -- "$pattern" <<<"$out" || {
		echo "output does not match /$pattern/:"
		echo "$out" | head -n 20
		return 1
	}
}

# same_sha CMD... FILE: CMD's output has FILE's sha256.
same_sha() {
	local file=${*: -1}
	[ "$("${@:1:$#-1}" | sha256sum)" = "$(sha256sum <"$file")" ]
}

# summary NAME: the closing line; fails if any check did.
summary() {
	echo
	echo "$1: $passed passed, $failed failed"
	[ "$failed" -eq 0 ]
}
