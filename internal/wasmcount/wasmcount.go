package wasmcount

import (
	"errors"
	"fmt"
	"sort"

	"github.com/tetratelabs/wabin/binary"
	"github.com/tetratelabs/wabin/leb128"
	"github.com/tetratelabs/wabin/wasm"
)

// Names of the globals Instrument adds and exports (mutable i64).
const (
	InstructionsGlobal = "wasmcount_instructions"
	MemoryGrowsGlobal  = "wasmcount_memory_grows"
)

// Features are the core features accepted when decoding (those the Go
// toolchain emits for GOARCH=wasm, and the mutable-global export).
const Features = wasm.CoreFeaturesV2

// Errors returned by Instrument.
var (
	ErrTruncated   = errors.New("wasmcount: truncated function body")
	ErrUnsupported = errors.New("wasmcount: unsupported opcode")
	ErrAlready     = errors.New("wasmcount: module is already instrumented")
)

// Instrument returns a copy of the module whose functions count their
// executed instructions in the exported global InstructionsGlobal and their
// memory.grow calls in MemoryGrowsGlobal (see the package documentation).
func Instrument(module []byte) ([]byte, error) {
	out, _, err := instrument(module, false)
	return out, err
}

// Func is one function of a module instrumented by InstrumentProfile.
type Func struct {
	// Index is the function's index (imports first).
	Index uint32
	// Name is its name from the module's name section ("" when the module
	// has none, e.g. built with -ldflags=-s).
	Name string
	// Global is the exported i64 global counting its own instructions.
	Global string
}

// InstrumentProfile is Instrument plus one more counter per defined
// function: each segment also adds its count to the function's own global
// (Func.Global), so the host can tell where the instructions go (self
// counts: a callee's instructions count in the callee).
func InstrumentProfile(module []byte) ([]byte, []Func, error) {
	return instrument(module, true)
}

func instrument(module []byte, perFunc bool) ([]byte, []Func, error) {
	m, err := binary.DecodeModule(module, Features)
	if err != nil {
		return nil, nil, fmt.Errorf("wasmcount: decode: %w", err)
	}
	for _, e := range m.ExportSection {
		if e.Name == InstructionsGlobal || e.Name == MemoryGrowsGlobal {
			return nil, nil, ErrAlready
		}
	}
	imported, importedFuncs := uint32(0), uint32(0)
	for _, im := range m.ImportSection {
		switch im.Type {
		case wasm.ExternTypeGlobal:
			imported++
		case wasm.ExternTypeFunc:
			importedFuncs++
		}
	}
	next := imported + uint32(len(m.GlobalSection))
	newGlobal := func(name string) uint32 {
		m.GlobalSection = append(m.GlobalSection, &wasm.Global{
			Type: &wasm.GlobalType{ValType: wasm.ValueTypeI64, Mutable: true},
			Init: &wasm.ConstantExpression{Opcode: wasm.OpcodeI64Const, Data: leb128.EncodeInt64(0)},
		})
		m.ExportSection = append(m.ExportSection, &wasm.Export{Type: wasm.ExternTypeGlobal, Name: name, Index: next})
		next++
		return next - 1
	}
	insn := newGlobal(InstructionsGlobal)
	grows := newGlobal(MemoryGrowsGlobal)
	var funcs []Func
	var names map[uint32]string
	if perFunc && m.NameSection != nil {
		names = map[uint32]string{}
		for _, na := range m.NameSection.FunctionNames {
			names[na.Index] = na.Name
		}
	}
	for i, c := range m.CodeSection {
		fn := int64(-1)
		if perFunc {
			idx := importedFuncs + uint32(i)
			f := Func{Index: idx, Name: names[idx], Global: fmt.Sprintf("wasmcount_f%d", idx)}
			fn = int64(newGlobal(f.Global))
			funcs = append(funcs, f)
		}
		body, err := instrumentBody(c.Body, insn, grows, fn)
		if err != nil {
			return nil, nil, fmt.Errorf("wasmcount: function %d: %w", i, err)
		}
		c.Body = body
	}
	return binary.EncodeModule(m), funcs, nil
}

// insert is one counter update to place before body[at].
type insert struct {
	at     int
	global uint32
	n      int64
	fn     int64 // a second global to add n to, or -1
}

// instrumentBody rewrites one function body (the code after the locals).
// fn, when >= 0, is the function's own counter, updated with insn.
func instrumentBody(body []byte, insn, grows uint32, fn int64) ([]byte, error) {
	var ins []insert
	segAt, count, live := 0, int64(0), true
	closeSeg := func() {
		if live && count > 0 {
			ins = append(ins, insert{at: segAt, global: insn, n: count, fn: fn})
		}
		count = 0
	}
	open := func(at int) { closeSeg(); segAt, live = at, true }
	depth := 1 // the function body's implicit block
	pc := 0
	for pc < len(body) {
		op := body[pc]
		start := pc
		next, err := skipInstruction(body, pc)
		if err != nil {
			return nil, err
		}
		pc = next
		switch op {
		case wasm.OpcodeBlock:
			depth++
		case wasm.OpcodeLoop:
			depth++
			open(pc)
		case wasm.OpcodeIf:
			depth++
			count++
			open(pc)
		case wasm.OpcodeElse:
			open(pc)
		case wasm.OpcodeEnd:
			depth--
			if depth == 0 {
				closeSeg()
				if pc != len(body) {
					return nil, errors.New("wasmcount: code after the final end")
				}
				// segment updates are recorded when a segment closes, after the
				// memory.grow updates inside it: order by position
				sort.SliceStable(ins, func(i, j int) bool { return ins[i].at < ins[j].at })
				return rewrite(body, ins), nil
			}
			open(pc)
		case wasm.OpcodeBrIf, wasm.OpcodeCall, wasm.OpcodeCallIndirect:
			count++
			open(pc)
		case wasm.OpcodeBr, wasm.OpcodeBrTable, wasm.OpcodeReturn, wasm.OpcodeUnreachable:
			count++
			closeSeg()
			live = false
		case wasm.OpcodeMemoryGrow:
			count++
			if live {
				ins = append(ins, insert{at: start, global: grows, n: 1, fn: -1})
			}
		default:
			count++
		}
	}
	return nil, ErrTruncated
}

// rewrite copies body with the counter updates inserted.
func rewrite(body []byte, ins []insert) []byte {
	out := make([]byte, 0, len(body)+len(ins)*12)
	prev := 0
	add := func(g uint32, n int64) {
		out = append(out, wasm.OpcodeGlobalGet)
		out = append(out, leb128.EncodeUint32(g)...)
		out = append(out, wasm.OpcodeI64Const)
		out = append(out, leb128.EncodeInt64(n)...)
		out = append(out, wasm.OpcodeI64Add, wasm.OpcodeGlobalSet)
		out = append(out, leb128.EncodeUint32(g)...)
	}
	for _, in := range ins {
		out = append(out, body[prev:in.at]...)
		prev = in.at
		add(in.global, in.n)
		if in.fn >= 0 {
			add(uint32(in.fn), in.n)
		}
	}
	return append(out, body[prev:]...)
}

// skipInstruction returns the offset of the instruction after the one at pc.
func skipInstruction(b []byte, pc int) (int, error) {
	op := b[pc]
	pc++
	switch {
	case op == wasm.OpcodeBlock || op == wasm.OpcodeLoop || op == wasm.OpcodeIf:
		return skipBlockType(b, pc)
	case op == wasm.OpcodeBr || op == wasm.OpcodeBrIf || op == wasm.OpcodeCall ||
		op >= wasm.OpcodeLocalGet && op <= wasm.OpcodeGlobalSet ||
		op == wasm.OpcodeTableGet || op == wasm.OpcodeTableSet || op == wasm.OpcodeRefFunc:
		return skipU32(b, pc, 1)
	case op == wasm.OpcodeBrTable:
		n, l, err := u32(b, pc)
		if err != nil {
			return 0, err
		}
		return skipU32(b, pc+l, int(n)+1)
	case op == wasm.OpcodeCallIndirect:
		return skipU32(b, pc, 2)
	case op == wasm.OpcodeTypedSelect:
		n, l, err := u32(b, pc)
		if err != nil {
			return 0, err
		}
		return need(b, pc+l+int(n))
	case op >= wasm.OpcodeI32Load && op <= wasm.OpcodeI64Store32:
		return skipU32(b, pc, 2)
	case op == wasm.OpcodeMemorySize || op == wasm.OpcodeMemoryGrow:
		return skipU32(b, pc, 1)
	case op == wasm.OpcodeI32Const || op == wasm.OpcodeI64Const:
		return skipLEB(b, pc)
	case op == wasm.OpcodeF32Const:
		return need(b, pc+4)
	case op == wasm.OpcodeF64Const:
		return need(b, pc+8)
	case op == wasm.OpcodeRefNull:
		return need(b, pc+1)
	case op == wasm.OpcodeMiscPrefix:
		sub, l, err := u32(b, pc)
		if err != nil {
			return 0, err
		}
		pc += l
		switch {
		case sub <= 7: // iNN.trunc_sat_fNN_x
			return pc, nil
		case sub == 8, sub == 10, sub == 12, sub == 14: // memory.init, memory.copy, table.init, table.copy
			return skipU32(b, pc, 2)
		case sub <= 17: // data.drop, memory.fill, elem.drop, table.grow/size/fill
			return skipU32(b, pc, 1)
		}
		return 0, fmt.Errorf("%w: 0xfc %d", ErrUnsupported, sub)
	case op <= wasm.OpcodeReturn || op == wasm.OpcodeDrop || op == wasm.OpcodeSelect ||
		op >= wasm.OpcodeI32Eqz && op <= wasm.OpcodeI64Extend32S || op == wasm.OpcodeRefIsNull:
		if op >= 0x06 && op <= 0x0a { // exception-handling opcodes
			return 0, fmt.Errorf("%w: %#x", ErrUnsupported, op)
		}
		return pc, nil
	}
	return 0, fmt.Errorf("%w: %#x", ErrUnsupported, op)
}

func need(b []byte, end int) (int, error) {
	if end > len(b) {
		return 0, ErrTruncated
	}
	return end, nil
}

// skipBlockType skips a block type: 0x40, a value type or an s33 type index.
func skipBlockType(b []byte, pc int) (int, error) {
	if pc >= len(b) {
		return 0, ErrTruncated
	}
	switch b[pc] {
	case 0x40, wasm.ValueTypeI32, wasm.ValueTypeI64, wasm.ValueTypeF32, wasm.ValueTypeF64,
		wasm.ValueTypeV128, wasm.ValueTypeFuncref, wasm.ValueTypeExternref:
		return pc + 1, nil
	}
	return skipLEB(b, pc)
}

func skipU32(b []byte, pc, n int) (int, error) {
	for range n {
		_, l, err := u32(b, pc)
		if err != nil {
			return 0, err
		}
		pc += l
	}
	return pc, nil
}

func u32(b []byte, pc int) (uint32, int, error) {
	if pc >= len(b) {
		return 0, 0, ErrTruncated
	}
	var v uint32
	for i := 0; i < 5; i++ {
		if pc+i >= len(b) {
			return 0, 0, ErrTruncated
		}
		v |= uint32(b[pc+i]&0x7f) << (7 * i)
		if b[pc+i]&0x80 == 0 {
			return v, i + 1, nil
		}
	}
	return 0, 0, ErrTruncated
}

// skipLEB skips one signed or unsigned LEB128 number (at most 10 bytes).
func skipLEB(b []byte, pc int) (int, error) {
	for i := 0; i < 10; i++ {
		if pc+i >= len(b) {
			return 0, ErrTruncated
		}
		if b[pc+i]&0x80 == 0 {
			return pc + i + 1, nil
		}
	}
	return 0, ErrTruncated
}
