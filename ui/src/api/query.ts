import type { AppError } from "./types";

// Every failed read or write carries the shell's typed error (see api/ipc.ts).
declare module "@tanstack/react-query" {
  interface Register {
    defaultError: AppError;
  }
}
