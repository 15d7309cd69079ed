export async function runDoctor(
  _argv: string[],
  _env: Record<string, string | undefined>,
  _command: string,
): Promise<number> {
  process.stderr.write('doctor: not yet\n');
  return 1;
}
