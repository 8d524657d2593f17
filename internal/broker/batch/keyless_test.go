package batch

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestValidateFindsKeylessRecords: ValidateFor names the first record with
// a null key, in uncompressed and compressed batches (records encoded by
// franz-go); an empty key is a key.
func TestValidateFindsKeylessRecords(t *testing.T) {
	keyed := func(i int32, key []byte) kmsg.Record {
		return kmsg.Record{OffsetDelta: i, Key: key, Value: []byte("v")}
	}
	cases := []struct {
		name string
		recs []kmsg.Record
		want int32
	}{
		{"all keyed", []kmsg.Record{keyed(0, []byte("a")), keyed(1, []byte{}), keyed(2, []byte("c"))}, -1},
		{"first", []kmsg.Record{keyed(0, nil), keyed(1, []byte("b"))}, 0},
		{"third of four", []kmsg.Record{keyed(0, []byte("a")), keyed(1, []byte{}), keyed(2, nil), keyed(3, nil)}, 2},
	}
	codecs := map[string]int8{"gzip": CompressionGzip, "snappy-raw": CompressionSnappy, "lz4": CompressionLZ4, "zstd": CompressionZstd}
	for _, tc := range cases {
		raw := encodeRecords(tc.recs)
		n := int32(len(tc.recs))
		batches := map[string][]byte{"none": assemble(CompressionNone, raw, n, 1000, 1000)}
		for name, c := range codecs {
			batches[name] = assemble(c, compressWith(t, name, raw), n, 1000, 1000)
		}
		for codec, b := range batches {
			v, err := ValidateFor(b, 0)
			if err != nil {
				t.Fatalf("%s, %s: %v", tc.name, codec, err)
			}
			if v.FirstKeyless != tc.want {
				t.Errorf("%s, %s: FirstKeyless %d, want %d", tc.name, codec, v.FirstKeyless, tc.want)
			}
		}
	}
}
