/**
 * `mesh-apim completion bash|zsh`: completion scripts generated from the commander program
 * (cli/program.ts), so a new command or option completes without editing a script by hand.
 */
import type { Command, Option } from 'commander';

const FILE_VALUE = /<file>/;

interface Node {
  path: string; // 'topics apply'
  options: Option[];
  subcommands: string[];
  fileArgument: boolean;
  argChoices: string[];
}

function nodes(program: Command): Node[] {
  const out: Node[] = [];
  const visit = (cmd: Command, path: string) => {
    out.push({
      path,
      options: [...cmd.options],
      subcommands: cmd.commands.map((c) => c.name()).filter((n) => n !== 'help'),
      fileArgument: cmd.registeredArguments.some((a) => /file/.test(a.name())),
      argChoices: cmd.registeredArguments.flatMap((a) => a.argChoices ?? []),
    });
    for (const c of cmd.commands) visit(c, path ? `${path} ${c.name()}` : c.name());
  };
  visit(program, '');
  return out;
}

const flagsOf = (o: Option) => [o.short, o.long].filter((f): f is string => Boolean(f));

function bash(program: Command): string {
  const all = nodes(program);
  const q = (flags: string[], path: string) => flags.map((f) => `"${path}:${f}"`).join('|');
  const cases = all
    .filter((n) => n.path)
    .map((n) => {
      const words = [...n.subcommands, ...n.argChoices, ...n.options.flatMap(flagsOf), '--help'].join(' ');
      return `    "${n.path}") words="${words}"${n.fileArgument ? '; files=1' : ''} ;;`;
    });
  const values = all.flatMap((n) =>
    n.options.flatMap((o) => {
      const key = q(flagsOf(o), n.path);
      if (o.argChoices)
        return [`    ${key}) COMPREPLY=($(compgen -W "${o.argChoices.join(' ')}" -- "$cur")); return ;;`];
      if (FILE_VALUE.test(o.flags)) return [`    ${key}) COMPREPLY=($(compgen -f -- "$cur")); return ;;`];
      if (o.required) return [`    ${key}) COMPREPLY=(); return ;;`];
      return [];
    }),
  );
  const top = [...all[0]!.subcommands, 'help', '--help', '--version'].join(' ');
  const paths = all
    .filter((n) => n.path)
    .map((n) => `"${n.path}"`)
    .join('|');
  return `# mesh-apim bash completion: source <(mesh-apim completion bash)
_mesh_apim() {
  local cur prev cmdpath="" words="" files=0 i
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  # The command path: the leading words that name a command (options and arguments come after it).
  for ((i = 1; i < COMP_CWORD; i++)); do
    case "\${cmdpath:+$cmdpath }\${COMP_WORDS[i]}" in
      ${paths}) cmdpath="\${cmdpath:+$cmdpath }\${COMP_WORDS[i]}" ;;
      *) break ;;
    esac
  done
  case "$cmdpath:$prev" in
${values.join('\n')}
  esac
  case "$cmdpath" in
    "") words="${top}" ;;
${cases.join('\n')}
  esac
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
  if [[ $files == 1 && $cur != -* ]]; then COMPREPLY+=($(compgen -f -- "$cur")); fi
}
complete -F _mesh_apim mesh-apim
`;
}

const zq = (s: string) => s.replace(/'/g, `'\\''`).replace(/[[\]:]/g, (c) => `\\${c}`);

function zshSpec(o: Option): string[] {
  const flags = flagsOf(o);
  const value = o.argChoices
    ? `:${o.long?.slice(2)}:(${o.argChoices.join(' ')})`
    : FILE_VALUE.test(o.flags)
      ? ':file:_files'
      : o.required
        ? `:${o.long?.slice(2)}: `
        : '';
  const exclusive = flags.length > 1 ? `(${flags.join(' ')})` : '';
  return flags.map((f) => `'${exclusive}${f}[${zq(o.description)}]${value}'`);
}

function zsh(program: Command): string {
  const all = nodes(program);
  const paths = all
    .filter((n) => n.path)
    .map((n) => `'${n.path}'`)
    .join('|');
  const describe = (cmd: Command) =>
    cmd.commands
      .filter((c) => c.name() !== 'help')
      .map((c) => `'${c.name()}:${zq(c.summary() || c.description())}'`)
      .join(' ');
  const cases = all
    .filter((n) => n.path)
    .map((n) => {
      const cmd = n.path
        .split(' ')
        .reduce<Command>((c, name) => c.commands.find((x) => x.name() === name)!, program);
      const specs = [...n.options.flatMap(zshSpec), "'(- *)'{-h,--help}'[show help]'"];
      if (n.subcommands.length) {
        return `    '${n.path}') local -a subs; subs=(${describe(cmd)}); _describe 'subcommand' subs ;;`;
      }
      const arg = cmd.registeredArguments[0];
      const action = arg?.argChoices ? `(${arg.argChoices.join(' ')})` : n.fileArgument ? '_files' : ' ';
      const positional = arg ? ` '${arg.required ? '' : ':'}1:${arg.name()}:${action}'` : '';
      return `    '${n.path}') _arguments ${specs.join(' ')}${positional} ;;`;
    });
  return `#compdef mesh-apim
# mesh-apim zsh completion: source <(mesh-apim completion zsh), or save as _mesh-apim on $fpath
_mesh_apim() {
  local -a commands
  local cmdpath="" w n=0
  # The command path: the leading words that name a command; _arguments then sees only what follows.
  for w in \${words[2,CURRENT-1]}; do
    case "\${cmdpath:+$cmdpath }$w" in
      ${paths}) cmdpath="\${cmdpath:+$cmdpath }$w"; (( n++ )) ;;
      *) break ;;
    esac
  done
  if (( n > 0 )); then
    words=(\${words[1]} \${words[n+2,-1]})
    (( CURRENT -= n ))
  fi
  if [[ -z $cmdpath ]]; then
    commands=(${describe(program)})
    _describe 'command' commands
    return
  fi
  case "$cmdpath" in
${cases.join('\n')}
    *) _files ;;
  esac
}
compdef _mesh_apim mesh-apim
`;
}

export function completionScript(program: Command, shell: 'bash' | 'zsh'): string {
  return shell === 'bash' ? bash(program) : zsh(program);
}
