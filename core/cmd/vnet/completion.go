package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// runCompletion prints a completion script for bash or zsh. The words
// come from the help topics, so a new command completes once it has help.
func runCompletion(_ context.Context, args []string) error {
	pos, err := parseArgs(newFlags("completion"), args, 1, 1)
	if err != nil {
		return err
	}
	switch pos[0] {
	case "bash":
		fmt.Fprint(stdout, bashCompletion())
	case "zsh":
		// zsh runs bash completions through bashcompinit.
		fmt.Fprint(stdout, "#compdef vnet\nautoload -U +X bashcompinit && bashcompinit\n"+bashCompletion())
	default:
		return usagef("completion", "unknown shell %q: use bash or zsh", pos[0])
	}
	return nil
}

// completionWords maps a command path ("", "ctl", "ctl users") to the
// words that may follow it.
func completionWords() map[string][]string {
	words := map[string][]string{}
	for path := range topics {
		parent, word := "", path
		if i := strings.LastIndex(path, " "); i >= 0 {
			parent, word = path[:i], path[i+1:]
		}
		words[parent] = append(words[parent], word)
	}
	for _, w := range words {
		slices.Sort(w)
	}
	return words
}

func bashCompletion() string {
	var cases strings.Builder
	words := completionWords()
	paths := make([]string, 0, len(words))
	for p := range words {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	for _, p := range paths {
		fmt.Fprintf(&cases, "    %q) words=%q ;;\n", p, strings.Join(words[p], " "))
	}
	return `_vnet() {
  local cur path="" w words
  cur="${COMP_WORDS[COMP_CWORD]}"
  for w in "${COMP_WORDS[@]:1:COMP_CWORD-1}"; do
    case "$w" in -*) ;; *) path="${path:+$path }$w" ;; esac
  done
  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "--help --config --identity --state-dir --debug --log-format --format" -- "$cur"))
    return
  fi
  case "$path" in
` + cases.String() + `    *) COMPREPLY=($(compgen -f -- "$cur")); return ;;
  esac
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -F _vnet vnet
`
}
