package devhost

import (
	"encoding/binary"
	"net"
	"strconv"
	"strings"
)

// Property values are serialised as Envoy serialises CEL values for
// proxy_get_property: strings raw, int64/uint64/timestamps/durations as 8
// bytes little-endian, bools as 1 byte, maps in the header-pairs format.

func i64(v int64) []byte {
	b := make([]byte, 8)
	binary.LittleEndian.PutUint64(b, uint64(v))
	return b
}

func u64(v uint64) []byte {
	b := make([]byte, 8)
	binary.LittleEndian.PutUint64(b, v)
	return b
}

func boolean(v bool) []byte {
	if v {
		return []byte{1}
	}
	return []byte{0}
}

func splitHostPort(addr string) (string, int64) {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return addr, 0
	}
	n, _ := strconv.ParseInt(p, 10, 64)
	return addr, n
}

// getProperty resolves a property path (segments separated by NUL, as the
// ABI passes them) for the effective context. Supported attributes:
//
//	plugin_name, plugin_root_id, plugin_vm_id, connection_id
//	request.{path,url_path,host,scheme,method,headers[.NAME],referer,useragent,id,query,time,protocol,duration,size,total_size}
//	response.{code,code_details,flags,headers[.NAME],size,total_size}
//	source.{address,port} destination.{address,port}
//	connection.{id,mtls,requested_server_name}
//	upstream.{address,port,request_attempt_count}
//	xds.cluster_name, cluster_name, xds.route_name, route_name
//	any path set with proxy_set_property on the stream (filter state)
//
// As in Envoy, header-derived request attributes exist only while the
// request headers are available to the plugin (request headers phase, a
// paused request, on_log); response.code only once the response headers
// have passed the filter chain; stream attributes not at all in root
// contexts. Everything else is NotFound; a bare map (e.g. "request") is a
// SerializationFailure.
func (inst *instance) getProperty(path string) ([]byte, Status) {
	if path == "" {
		return nil, StatusNotFound
	}
	parts := strings.Split(path, "\x00")
	top, rest := parts[0], parts[1:]
	s := inst.effStream
	h := inst.h
	leaf := func(v []byte) ([]byte, Status) {
		if len(rest) != 0 {
			return nil, StatusNotFound
		}
		return v, StatusOK
	}
	switch top {
	case "plugin_name":
		return leaf([]byte(h.opts.PluginName))
	case "plugin_root_id":
		return leaf([]byte(h.opts.RootID))
	case "plugin_vm_id":
		return leaf([]byte(h.opts.VMID))
	case "cluster_name":
		if s == nil || !s.routed {
			return nil, StatusNotFound
		}
		return leaf([]byte(h.opts.UpstreamCluster))
	case "route_name":
		if s == nil {
			return nil, StatusNotFound
		}
		return leaf([]byte("default"))
	}
	if s == nil {
		return nil, StatusNotFound
	}
	if len(rest) == 0 {
		switch top {
		case "connection_id":
			return u64(s.connID), StatusOK
		case "request", "response", "source", "destination", "connection", "upstream", "xds":
			return nil, StatusSerializationFailure
		}
		if v, ok := s.filterState[top]; ok {
			return v, StatusOK
		}
		return nil, StatusNotFound
	}
	field := rest[0]
	sub := rest[1:]
	only := func(v []byte, ok bool) ([]byte, Status) {
		if !ok || len(sub) != 0 {
			return nil, StatusNotFound
		}
		return v, StatusOK
	}
	switch top {
	case "request":
		hdrs := s.reqHeaders
		hdrOK := s.vis&visReqHeaders != 0 || s.accessLog
		hv := func(k string) ([]byte, bool) {
			if !hdrOK {
				return nil, false
			}
			v, ok := hdrs.get(k)
			return []byte(v), ok
		}
		switch field {
		case "path":
			return only(hv(":path"))
		case "url_path":
			v, ok := hv(":path")
			if i := strings.IndexByte(string(v), '?'); ok && i >= 0 {
				v = v[:i]
			}
			return only(v, ok)
		case "query":
			v, ok := hv(":path")
			if !ok {
				return nil, StatusNotFound
			}
			q := ""
			if i := strings.IndexByte(string(v), '?'); i >= 0 {
				q = string(v[i+1:])
			}
			return only([]byte(q), true)
		case "host":
			return only(hv(":authority"))
		case "scheme":
			return only(hv(":scheme"))
		case "method":
			return only(hv(":method"))
		case "referer":
			return only(hv("referer"))
		case "useragent":
			return only(hv("user-agent"))
		case "id":
			return only(hv("x-request-id"))
		case "headers":
			if !hdrOK {
				return nil, StatusNotFound
			}
			return mapValue(hdrs, sub)
		case "time":
			return only(i64(s.start.UnixNano()), true)
		case "protocol":
			return only([]byte("HTTP/1.1"), true)
		case "duration":
			return only(i64(int64(s.completeAt.Sub(s.start))), s.complete)
		case "size":
			return only(i64(int64(len(s.reqBodyIn))), true)
		case "total_size":
			return only(i64(int64(len(s.reqBodyIn)+s.reqHeaderBytes)), true)
		}
	case "response":
		switch field {
		case "code":
			return only(i64(int64(s.code)), s.codeSet)
		case "code_details":
			return only([]byte(s.details), s.details != "")
		case "flags":
			return only(i64(int64(s.flags)), true)
		case "headers":
			if s.respHeaders == nil || !(s.vis&visRespHeaders != 0 || s.accessLog) {
				return nil, StatusNotFound
			}
			return mapValue(s.respHeaders, sub)
		case "size":
			return only(i64(int64(len(s.respBody))), s.codeSet)
		case "total_size":
			n := 0
			if s.respHeaders != nil {
				n = s.respHeaders.byteSize()
			}
			return only(i64(int64(len(s.respBody)+n)), s.codeSet)
		}
	case "source":
		addr, port := splitHostPort(s.remote)
		switch field {
		case "address":
			return only([]byte(addr), true)
		case "port":
			return only(i64(port), true)
		}
	case "destination":
		addr, port := splitHostPort(s.localAddr)
		switch field {
		case "address":
			return only([]byte(addr), s.localAddr != "")
		case "port":
			return only(i64(port), s.localAddr != "")
		}
	case "connection":
		switch field {
		case "id":
			return only(u64(s.connID), true)
		case "mtls":
			return only(boolean(false), true)
		case "requested_server_name":
			return only(nil, true)
		}
	case "upstream":
		addr, port := splitHostPort(s.upstreamAddr)
		switch field {
		case "address":
			return only([]byte(addr), s.upstreamAddr != "")
		case "port":
			return only(i64(port), s.upstreamAddr != "")
		case "request_attempt_count":
			return only(u64(uint64(s.attempts)), true)
		}
	case "xds":
		switch field {
		case "cluster_name":
			return only([]byte(h.opts.UpstreamCluster), s.routed)
		case "route_name":
			return only([]byte("default"), true)
		}
	}
	return nil, StatusNotFound
}

// mapValue serialises a header map (as pairs) or one of its values.
func mapValue(m *headerMap, sub []string) ([]byte, Status) {
	switch len(sub) {
	case 0:
		return encodePairs(m.kv), StatusOK
	case 1:
		if v, ok := m.get(sub[0]); ok {
			return []byte(v), StatusOK
		}
	}
	return nil, StatusNotFound
}
