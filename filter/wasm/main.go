package main

import (
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"

	"github.com/breakwater/breakwater/filter"
)

func init() { proxywasm.SetVMContext(filter.NewVMContext()) }

func main() {}
