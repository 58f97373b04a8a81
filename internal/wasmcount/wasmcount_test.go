package wasmcount

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/tetratelabs/wazero"
)

// A hand-written module: loop summing 1..n, with a memory.grow per call.
//
//	(func (export "sum") (param i32) (result i32) (local i32)
//	  i32.const 1  memory.grow  drop
//	  block
//	    loop
//	      local.get 0  i32.eqz  br_if 1
//	      local.get 1  local.get 0  i32.add  local.set 1
//	      local.get 0  i32.const 1  i32.sub  local.set 0
//	      br 0
//	    end
//	  end
//	  local.get 1)
var sumModule = func() []byte {
	fn := []byte{
		0x01, 0x01, 0x7f, // 1 local i32
		0x41, 0x01, 0x40, 0x00, 0x1a, // i32.const 1, memory.grow, drop
		0x02, 0x40, 0x03, 0x40, // block, loop
		0x20, 0x00, 0x45, 0x0d, 0x01, // local.get 0, i32.eqz, br_if 1
		0x20, 0x01, 0x20, 0x00, 0x6a, 0x21, 0x01, // sum += n
		0x20, 0x00, 0x41, 0x01, 0x6b, 0x21, 0x00, // n--
		0x0c, 0x00, 0x0b, 0x0b, // br 0, end, end
		0x20, 0x01, 0x0b, // local.get 1, end
	}
	code := append([]byte{0x01, byte(len(fn))}, fn...)
	m := []byte{
		0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
		0x01, 0x06, 0x01, 0x60, 0x01, 0x7f, 0x01, 0x7f, // type (i32)->i32
		0x03, 0x02, 0x01, 0x00, // func 0: type 0
		0x05, 0x03, 0x01, 0x00, 0x01, // memory min 1
		0x07, 0x07, 0x01, 0x03, 's', 'u', 'm', 0x00, 0x00, // export "sum"
		0x0a, byte(len(code)),
	}
	return append(m, code...)
}()

func run(t *testing.T, wasm []byte, n uint64) (result, insns, grows uint64) {
	t.Helper()
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	mod, err := rt.Instantiate(ctx, wasm)
	if err != nil {
		t.Fatal(err)
	}
	res, err := mod.ExportedFunction("sum").Call(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	return res[0], mod.ExportedGlobal(InstructionsGlobal).Get(), mod.ExportedGlobal(MemoryGrowsGlobal).Get()
}

func TestInstrumentCountsExactly(t *testing.T) {
	out, err := Instrument(sumModule)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []uint64{0, 1, 5} {
		res, insns, grows := run(t, out, n)
		if want := n * (n + 1) / 2; res != want {
			t.Fatalf("sum(%d) = %d, want %d", n, res, want)
		}
		// entry segment: const, grow, drop (3); each loop iteration:
		// get, eqz, br_if, 4 + 4 more, br (12); the last check: get, eqz,
		// br_if (3); after the block: local.get (1).
		if want := 3 + 12*n + 3 + 1; insns != want {
			t.Errorf("sum(%d): %d instructions, want %d", n, insns, want)
		}
		if grows != 1 {
			t.Errorf("sum(%d): %d memory.grow, want 1", n, grows)
		}
	}
	if _, err := Instrument(out); !errors.Is(err, ErrAlready) {
		t.Fatalf("instrumenting twice: %v", err)
	}
}

func TestInstrumentRejectsTruncated(t *testing.T) {
	bad := append([]byte(nil), sumModule...)
	bad = bad[:len(bad)-1]
	if _, err := Instrument(bad); err == nil {
		t.Fatal("truncated module accepted")
	}
}

// TestInstrumentBuiltPlugins instruments the built .wasm files and checks
// that wazero compiles the result (every body still validates).
func TestInstrumentBuiltPlugins(t *testing.T) {
	for _, name := range []string{"noop.wasm", "breakwater.wasm"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "dist", name))
		if err != nil {
			t.Fatalf("dist/%s: %v: run make build", name, err)
		}
		out, err := Instrument(b)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		ctx := context.Background()
		rt := wazero.NewRuntime(ctx)
		if _, err := rt.CompileModule(ctx, out); err != nil {
			t.Fatalf("%s: instrumented module does not compile: %v", name, err)
		}
		rt.Close(ctx)
	}
}

// TestInstrumentProfileCountsPerFunction: the per-function counter of the
// only function equals the total.
func TestInstrumentProfileCountsPerFunction(t *testing.T) {
	out, funcs, err := InstrumentProfile(sumModule)
	if err != nil {
		t.Fatal(err)
	}
	if len(funcs) != 1 || funcs[0].Index != 0 || funcs[0].Global != "wasmcount_f0" {
		t.Fatalf("funcs = %+v", funcs)
	}
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	mod, err := rt.Instantiate(ctx, out)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mod.ExportedFunction("sum").Call(ctx, 4); err != nil {
		t.Fatal(err)
	}
	total, self := mod.ExportedGlobal(InstructionsGlobal).Get(), mod.ExportedGlobal(funcs[0].Global).Get()
	if total != 3+12*4+3+1 || self != total {
		t.Errorf("total %d, function %d; want both %d", total, self, 3+12*4+3+1)
	}
}
