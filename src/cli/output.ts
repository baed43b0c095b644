import { Chalk } from 'chalk';

/** Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org). */
function colourLevel(stream: NodeJS.WriteStream): 0 | 1 {
  if ('NO_COLOR' in process.env && process.env.NO_COLOR !== '') return 0;
  return stream.isTTY ? 1 : 0;
}

export const out = new Chalk({ level: colourLevel(process.stdout) });
export const err = new Chalk({ level: colourLevel(process.stderr) });

/** Colours for diagnostics printed on a stream (see analysis/format.ts's Paint). */
export function diagnosticPaint(chalk: InstanceType<typeof Chalk>) {
  const colours = { error: chalk.red.bold, warning: chalk.yellow.bold, info: chalk.cyan.bold } as const;
  return {
    severity: (severity: keyof typeof colours, text: string) => colours[severity](text),
    dim: (text: string) => chalk.dim(text),
  };
}
