package main

import (
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"

	"github.com/breakwater/breakwater/filter"
	_ "github.com/breakwater/breakwater/filter/internal/heapstats"
)

func init() { proxywasm.SetVMContext(filter.NewVMContext()) }

func main() {}
