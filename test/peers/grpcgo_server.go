// A grpc-go server peer for the transport conformance suite, with grpc-go's keepalive
// enforcement (keepalive.EnforcementPolicy) set from flags: a client that pings more
// often than -min-time, or at all without calls in flight (PermitWithoutStream false,
// grpc-go's default), is sent GOAWAY(ENHANCE_YOUR_CALM, "too_many_pings").
//
// Every /task.Task/* method: sleep `x-ms` ms (metadata), then echo the request bytes.
// Prints "PORT <n>"; exits when stdin closes.
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
)

type rawCodec struct{}

func (rawCodec) Marshal(v interface{}) ([]byte, error) { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(data []byte, v interface{}) error {
	*(v.(*[]byte)) = append([]byte(nil), data...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

func handler(_ interface{}, stream grpc.ServerStream) error {
	var req []byte
	if err := stream.RecvMsg(&req); err != nil {
		return err
	}
	if md, ok := metadata.FromIncomingContext(stream.Context()); ok {
		if v := md.Get("x-ms"); len(v) > 0 {
			ms, _ := strconv.Atoi(v[0])
			select {
			case <-time.After(time.Duration(ms) * time.Millisecond):
			case <-stream.Context().Done():
				return stream.Context().Err()
			}
		}
	}
	return stream.SendMsg(&req)
}

func main() {
	minTime := flag.Duration("min-time", 5*time.Minute, "keepalive.EnforcementPolicy.MinTime")
	flag.Parse()
	encoding.RegisterCodec(rawCodec{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	s := grpc.NewServer(
		grpc.UnknownServiceHandler(handler),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: *minTime, PermitWithoutStream: false}),
	)
	fmt.Printf("PORT %d\n", lis.Addr().(*net.TCPAddr).Port)
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		s.Stop()
	}()
	_ = s.Serve(lis)
}
