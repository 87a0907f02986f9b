package main

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

// The scripts call cairn with --generate-bash-completion, which urfave/cli
// answers with the commands and flags that fit.
const bashCompletion = `_cairn_complete() {
  local cur words
  cur="${COMP_WORDS[COMP_CWORD]}"
  words=("${COMP_WORDS[@]:0:COMP_CWORD}")
  COMPREPLY=($(compgen -W "$("${words[@]}" --generate-bash-completion 2>/dev/null)" -- "$cur"))
  [ ${#COMPREPLY[@]} -eq 0 ] && COMPREPLY=($(compgen -f -- "$cur"))
  return 0
}
complete -o default -F _cairn_complete cairn
`

const zshCompletion = `#compdef cairn
_cairn() {
  local -a opts
  opts=("${(@f)$(${words[@]:0:#words[@]-1} --generate-bash-completion 2>/dev/null)}")
  _describe 'values' opts || _files
}
compdef _cairn cairn
`

func newCompletionCommand() *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print a shell completion script (bash or zsh)",
		ArgsUsage: "bash|zsh",
		Description: `   source <(cairn completion bash)       # in ~/.bashrc
   source <(cairn completion zsh)        # in ~/.zshrc`,
		Action: func(c *cli.Context) error {
			switch c.Args().First() {
			case "bash":
				fmt.Fprint(c.App.Writer, bashCompletion)
			case "zsh":
				fmt.Fprint(c.App.Writer, zshCompletion)
			default:
				return usagef("completion expects bash or zsh")
			}
			return nil
		},
	}
}
