// Package normalize gives a request's path and authority one spelling per
// resource, so that a policy's match and the `path` / `authority` key parts
// cannot be dodged (or fresh keys minted) by spelling the same resource
// differently.
//
// # Path
//
// Path(raw) is, in this order:
//
//  1. the query and the fragment dropped (from the first '?' or '#');
//  2. percent-encodings of unreserved characters (ALPHA DIGIT - . _ ~,
//     RFC 3986 §2.3) decoded, every other valid percent-encoding kept with
//     upper-case hex digits (§6.2.2.1); a '%' that starts no valid
//     encoding ("%zz", a lone '%') is the data byte '%' and written %25, so
//     that a second pass cannot read it as the start of one. %2F and %5C (the separators '/' and '\')
//     are NEVER decoded: they stay data inside a segment, and the result
//     says such a path was seen (EncodedSlash) so the caller can reject it;
//  3. path parameters removed: in every segment, from the first ';' to the
//     end of the segment ("/orders;a=b" is "/orders", "/a/..;/b" is "/b"),
//     as servlet containers do before they route (a literal ';' cannot be
//     used to tell two resources apart; an encoded %3B is data and stays);
//  4. empty segments removed (merged slashes, and a trailing slash: the
//     result ends with '/' only when it is "/"); a path that does not start
//     with '/' is taken as rooted ("*" is "/*");
//  5. dot segments removed (RFC 3986 §5.2.4): "." dropped, ".." drops the
//     segment before it (nothing above the root).
//
// The result is idempotent (Path(Path(x)) == Path(x)), never holds a "."
// or ".." segment, never holds a '/' that was not a '/' of the input, and
// is never empty. When raw is already normal (the common case) the result
// is a substring of raw: no allocation, 8 bytes per test for the words with
// none of the bytes that need a closer look, then one table lookup per byte;
// FuzzPath checks all of it, and TestPathFastAgrees and FuzzPathFast that
// Path answers what the byte loop alone and the full normalisation answer. The encoded-separator report is about raw's
// path, even when the separator was in a ;param that was cut.
//
// # Authority
//
// Authority(raw, scheme) is lower-cased, with a trailing dot of the host
// removed and the scheme's default port removed (":80" with "http" or no
// scheme, ":443" with "https"), so "Orders.Example.com.:80" is
// "orders.example.com". It allocates only when it lower-cases or removes a
// trailing dot before a kept port.
//
// # Zero value, concurrency, memory
//
// Stateless functions, safe for concurrent use; memory is at most one string
// of the input's length per call. Nothing is approximate. Standard library
// only; never reads the clock.
package normalize
