// An independent HPACK encoder for the decoder's property test (test/integration/bench-hpack-go.test.ts):
// golang.org/x/net/http2/hpack, the encoder grpc-go and Go's net/http use. One encoder for the
// whole run, so its dynamic table carries across blocks as on one connection.
//
// stdin: one JSON object a line, {"size": n (optional: a table size update first), "fields":
// [[nameHex, valueHex, sensitive], ...]}; stdout: one line a block, its bytes in hex.
package main

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"

	"golang.org/x/net/http2/hpack"
)

type block struct {
	Size   *uint32         `json:"size"`
	Fields [][]interface{} `json:"fields"`
}

func main() {
	var buf bytes.Buffer
	enc := hpack.NewEncoder(&buf)
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<24)
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	for in.Scan() {
		var b block
		if err := json.Unmarshal(in.Bytes(), &b); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		buf.Reset()
		if b.Size != nil {
			enc.SetMaxDynamicTableSize(*b.Size)
		}
		for _, f := range b.Fields {
			name, _ := hex.DecodeString(f[0].(string))
			value, _ := hex.DecodeString(f[1].(string))
			sensitive, _ := f[2].(bool)
			if err := enc.WriteField(hpack.HeaderField{Name: string(name), Value: string(value), Sensitive: sensitive}); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
		}
		fmt.Fprintln(out, hex.EncodeToString(buf.Bytes()))
	}
}
