/**
 * gRPC server reflection for `task.Task` (and the health service), so grpcurl and
 * similar tools work against the gateway without local proto files.
 */
import { existsSync } from "node:fs";
import path from "node:path";
import type * as grpc from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import { protoPath as healthProtoPath } from "grpc-health-check";

export const REFLECTED_SERVICES = ["task.Task", "grpc.health.v1.Health"];

/** The repository's `proto/` directory, from src/ (ts-jest) or dist/src/ (built). */
export function protoDir(): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, "proto");
    if (existsSync(path.join(candidate, "task", "task.proto"))) return candidate;
    if (path.dirname(dir) === dir) throw new Error("proto/task/task.proto not found above " + __dirname);
  }
}

export function addReflection(server: grpc.Server): void {
  const healthDir = path.resolve(path.dirname(healthProtoPath), "..", "..");
  const pkg = loadSync(["task/task.proto", "health/v1/health.proto"], {
    includeDirs: [protoDir(), healthDir],
    keepCase: true,
  });
  new ReflectionService(pkg, { services: REFLECTED_SERVICES }).addToServer(server);
}
