// grpc-upstream: the gRPC service of the gateway benchmarks. It answers every request over
// HTTP/2 cleartext (prior knowledge; HTTP/1.1 too) with one gRPC message, `hello`, and `grpc-status: 0`
// in the trailers, after reading the request; the request's `hello` header comes back as
// `x-hello`, so a check sees the plugin ran. Standard library only.
//
// Usage: grpc-upstream <port>   (listens on 127.0.0.1)
package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
)

// One gRPC message: not compressed, 5 bytes long, `hello`.
var answer = []byte{0, 0, 0, 0, 5, 'h', 'e', 'l', 'l', 'o'}

func handle(w http.ResponseWriter, r *http.Request) {
	if _, err := io.Copy(io.Discard, r.Body); err != nil {
		return
	}
	header := w.Header()
	header.Set("Content-Type", "application/grpc")
	header.Set("X-Hello", r.Header.Get("Hello"))
	header.Set("Trailer", "Grpc-Status")
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(answer); err != nil {
		return
	}
	header.Set("Grpc-Status", "0")
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: grpc-upstream <port>")
		os.Exit(2)
	}
	listener, err := net.Listen("tcp", "127.0.0.1:"+os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "grpc-upstream:", err)
		os.Exit(1)
	}
	var protocols http.Protocols
	protocols.SetHTTP1(true) // the benchmark's readiness check
	protocols.SetUnencryptedHTTP2(true)
	server := &http.Server{Handler: http.HandlerFunc(handle), Protocols: &protocols}
	if err := server.Serve(listener); err != nil {
		fmt.Fprintln(os.Stderr, "grpc-upstream:", err)
		os.Exit(1)
	}
}
