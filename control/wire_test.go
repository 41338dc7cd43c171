package control

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/ncsync/ncsync/report"
)

// fillReport sets every field reachable from v to a distinct non-zero
// value (one element per slice and map), so that a field the wire drops
// shows as a difference.
func fillReport(t *testing.T, v reflect.Value, n *int) {
	t.Helper()
	*n++
	switch v.Interface().(type) {
	case time.Time:
		v.Set(reflect.ValueOf(time.Unix(1_700_000_000+int64(*n), int64(*n))))
		return
	case time.Duration:
		v.SetInt(int64(*n) * int64(time.Millisecond))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString("s" + string(rune('a'+*n%26)))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(*n))
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(*n))
	case reflect.Struct:
		for i := range v.NumField() {
			fillReport(t, v.Field(i), n)
		}
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fillReport(t, v.Elem(), n)
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		fillReport(t, v.Index(0), n)
	case reflect.Map:
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fillReport(t, k, n)
		fillReport(t, e, n)
		v.Set(reflect.MakeMap(v.Type()))
		v.SetMapIndex(k, e)
	default:
		t.Fatalf("fillReport: no value for a %s", v.Type())
	}
}

// TestStatusWireCarriesEveryField: every field of the report reaches
// `ncsync status` over the control socket.
func TestStatusWireCarriesEveryField(t *testing.T) {
	var want report.Node
	n := 0
	fillReport(t, reflect.ValueOf(&want).Elem(), &n)
	want.Role = "secondary"
	want.Peers[0].Role = "primary"
	got := statusFromWire(statusToWire(want))
	if !reflect.DeepEqual(got, want) {
		gv, wv := reflect.ValueOf(got), reflect.ValueOf(want)
		diff(t, "Node", gv, wv)
	}
}

// diff reports the fields in which got and want differ, by path.
func diff(t *testing.T, path string, got, want reflect.Value) {
	t.Helper()
	if reflect.DeepEqual(got.Interface(), want.Interface()) {
		return
	}
	switch {
	case want.Kind() == reflect.Struct && want.Type() != reflect.TypeFor[time.Time]():
		for i := range want.NumField() {
			diff(t, path+"."+want.Type().Field(i).Name, got.Field(i), want.Field(i))
		}
	case want.Kind() == reflect.Slice && got.Len() == want.Len():
		for i := range want.Len() {
			diff(t, fmt.Sprintf("%s[%d]", path, i), got.Index(i), want.Index(i))
		}
	case want.Kind() == reflect.Pointer && !got.IsNil():
		diff(t, path, got.Elem(), want.Elem())
	default:
		t.Errorf("%s does not travel: got %v, want %v", path, got.Interface(), want.Interface())
	}
}
