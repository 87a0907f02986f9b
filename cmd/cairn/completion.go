package main

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

// Each script calls cairn with the words before the cursor and
// --generate-bash-completion; the word being typed is passed too when it
// is a flag, so that cairn answers with flags. cairn answers with
// commands, built-in playbook names, run ids and waiting gates as they fit
// (complete_values.go); the shell filters by what is typed and falls back
// to file names.
const bashCompletion = `_cairn_complete() {
  local cur words
  cur="${COMP_WORDS[COMP_CWORD]}"
  words=("${COMP_WORDS[@]:0:COMP_CWORD}")
  [[ "$cur" == -* ]] && words+=("$cur")
  COMPREPLY=($(compgen -W "$("${words[@]}" --generate-bash-completion 2>/dev/null)" -- "$cur"))
  [ ${#COMPREPLY[@]} -eq 0 ] && COMPREPLY=($(compgen -f -- "$cur"))
  return 0
}
complete -o default -F _cairn_complete cairn
`

const zshCompletion = `#compdef cairn
_cairn() {
  local -a args opts
  args=(${words[@]:0:CURRENT-1})
  [[ "${words[CURRENT]}" == -* ]] && args+=("${words[CURRENT]}")
  opts=("${(@f)$(${args[@]} --generate-bash-completion 2>/dev/null)}")
  _describe 'values' opts || _files
}
compdef _cairn cairn
`

const fishCompletion = `function __cairn_complete
    set -l words (commandline -opc)
    set -l cur (commandline -ct)
    if string match -q -- '-*' $cur
        set -a words $cur
    end
    $words --generate-bash-completion 2>/dev/null
end
complete -c cairn -a '(__cairn_complete)'
`

func newCompletionCommand() *cli.Command {
	return &cli.Command{
		Name:         "completion",
		Usage:        "print a shell completion script (bash, zsh or fish)",
		ArgsUsage:    "bash|zsh|fish",
		BashComplete: firstArg(shells),
		Description: `Completes commands, flags, built-in playbook names, run ids (newest first)
and, for approve, the runs and gates waiting for approval.

   source <(cairn completion bash)                          in ~/.bashrc
   source <(cairn completion zsh)                           in ~/.zshrc
   cairn completion fish > ~/.config/fish/completions/cairn.fish`,
		Action: func(c *cli.Context) error {
			scripts := map[string]string{"bash": bashCompletion, "zsh": zshCompletion, "fish": fishCompletion}
			s, ok := scripts[c.Args().First()]
			if !ok || c.NArg() != 1 {
				return usagef("completion expects one of bash, zsh or fish")
			}
			fmt.Fprint(c.App.Writer, s)
			return nil
		},
	}
}
