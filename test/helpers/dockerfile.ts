/** Reading the Dockerfile (dockerfile-ast) and the build context (.dockerignore) as Docker does. */
import { readFileSync } from "node:fs";
import path from "node:path";
import { DockerfileParser, type Instruction, ModifiableInstruction } from "dockerfile-ast";

export interface Stage {
  name: string | null;
  image: string;
  instructions: Instruction[];
}

export function parseDockerfile(file: string): { stages: Stage[]; all: Instruction[] } {
  const df = DockerfileParser.parse(readFileSync(file, "utf8"));
  const stages: Stage[] = [];
  for (const ins of df.getInstructions()) {
    if (ins.getKeyword() === "FROM") {
      const args = ins.getArguments().map((a) => a.getValue());
      const asIdx = args.findIndex((a) => a.toUpperCase() === "AS");
      stages.push({
        image: args.filter((a) => !a.startsWith("--"))[0]!,
        name: asIdx >= 0 ? args[asIdx + 1]! : null,
        instructions: [],
      });
    } else if (stages.length > 0) {
      stages[stages.length - 1]!.instructions.push(ins);
    }
  }
  return { stages, all: df.getInstructions() };
}

/** Arguments of an exec-form instruction (`["a", "b"]`), or null for the shell form. */
export function execForm(ins: Instruction): string[] | null {
  const text = (ins.getRawArgumentsContent() ?? "").replace(/^--\S+\s+/g, "").trim();
  if (!text.startsWith("[")) return null;
  return JSON.parse(text) as string[];
}

/** `--name=value` flags of an instruction (COPY --from, HEALTHCHECK --interval, ...). */
export function flags(ins: Instruction): Record<string, string> {
  if (!(ins instanceof ModifiableInstruction)) return {};
  return Object.fromEntries(ins.getFlags().map((f) => [f.getName(), f.getValue() ?? ""]));
}

/** HEALTHCHECK's CMD part in exec form, its options stripped. */
export function healthcheckCommand(ins: Instruction): string[] | null {
  const raw = (ins.getRawArgumentsContent() ?? "").replace(/\\\r?\n/g, " ");
  const m = /\bCMD\s+(\[.*\])\s*$/s.exec(raw);
  return m ? (JSON.parse(m[1]!) as string[]) : null;
}

function patternToRegExp(pattern: string): RegExp {
  let re = "";
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    if (ch === "*" && pattern[i + 1] === "*") {
      i++;
      if (pattern[i + 1] === "/") {
        i++;
        re += "(?:.*/)?";
      } else re += ".*";
    } else if (ch === "*") re += "[^/]*";
    else if (ch === "?") re += "[^/]";
    else re += ch.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${re}$`);
}

/**
 * Docker's .dockerignore rule: the last pattern matching the path or one of its parent
 * directories decides; `!` re-includes.
 */
export function dockerignore(file: string): (relPath: string) => boolean {
  const rules = readFileSync(file, "utf8")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"))
    .map((l) => {
      const negate = l.startsWith("!");
      const p = path.posix.normalize((negate ? l.slice(1) : l).trim()).replace(/^\/+/, "");
      return { negate, re: patternToRegExp(p) };
    });
  return (relPath: string) => {
    const parts = relPath.split("/");
    const candidates = parts.map((_, i) => parts.slice(0, i + 1).join("/"));
    let excluded = false;
    for (const r of rules) if (candidates.some((c) => r.re.test(c))) excluded = !r.negate;
    return !excluded;
  };
}
