// Package wasmcount instruments a WebAssembly module so that a host can
// count, deterministically, the instructions it executes and the
// memory.grow instructions it runs. `breakwater perf` runs the result in
// the dev host (see cmd/breakwater/perf.go).
//
// # Algorithm
//
// Instrument decodes the module with github.com/tetratelabs/wabin, appends
// two mutable i64 globals exported as InstructionsGlobal and
// MemoryGrowsGlobal (indices after every existing global, so no existing
// index moves) and rewrites every function body in one pass:
//
//   - the body is cut into straight-line segments; a segment starts at the
//     function entry and right after every loop, if, else, end (not the
//     final one), br_if, call and call_indirect, the points where control
//     can arrive other than from the previous instruction (branch targets,
//     the fall-through of a conditional branch, the return from a call);
//   - br, br_table, return and unreachable end a segment: what follows them
//     up to the next segment start is dead code and is not counted;
//   - at the start of each non-empty segment a stack-neutral update
//     `global.get C; i64.const K; i64.add; global.set C` adds K, the number of
//     instructions of the segment, to the counter;
//   - before each memory.grow the same update adds 1 to MemoryGrowsGlobal.
//
// InstrumentProfile does the same and gives every defined function its own
// exported counter (wasmcount_f<index>), which each of its segments also
// updates: the function's own instructions, callees excluded; names come
// from the module's name section when it has one (`breakwater perf
// --profile N`).
//
// An instruction is every opcode except the structural markers block,
// loop, else and end (they do no work in a compiled engine). The count
// of a segment is added when the segment is entered, so a trap in the middle
// of a segment counts it whole; a call counts the caller's segment up to and
// including the call, then the callee's own segments. Instructions the host
// runs re-entrantly (proxy_on_memory_allocate during a host call) are added
// to the same counter, inside the host call.
//
// # Zero value, concurrency, memory
//
// Stateless: Instrument is a pure function of its input, safe for
// concurrent use; it holds the decoded module and one output buffer per
// function body in memory while it runs.
//
// # What is approximate
//
// The count is of wasm instructions, not of machine instructions: an
// i64.div costs more than an i32.add and both count 1. The counter updates
// themselves are not counted. SIMD (the 0xfd prefix) is not supported:
// Instrument returns an error for a module that uses it (the Go toolchain
// does not emit it).
package wasmcount
