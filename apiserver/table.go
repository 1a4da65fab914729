package apiserver

import (
	"encoding/json"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"berth/apiserver/registry"
)

// defaultColumns serve resources that define no table: NAME and AGE, as
// Kubernetes' default table convertor.
var defaultColumns = []metav1.TableColumnDefinition{registry.NameColumn, {
	Name: "Created At", Type: "date", Description: metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"],
}}

// toTable renders an object or a list as the server-side Table `kubectl get`
// prints.
func toTable(res *registry.Resource, obj runtime.Object, opts tableOptions) (*metav1.Table, error) {
	t := &metav1.Table{}
	t.SetGroupVersionKind(metav1.SchemeGroupVersion.WithKind("Table"))
	var items []runtime.Object
	if meta.IsListType(obj) {
		var err error
		if items, err = meta.ExtractList(obj); err != nil {
			return nil, err
		}
		lm, err := meta.ListAccessor(obj)
		if err != nil {
			return nil, err
		}
		t.ResourceVersion = lm.GetResourceVersion()
		t.Continue = lm.GetContinue()
		t.RemainingItemCount = lm.GetRemainingItemCount()
	} else {
		items = []runtime.Object{obj}
		if m, err := meta.Accessor(obj); err == nil {
			t.ResourceVersion = m.GetResourceVersion()
		}
	}
	columns, cells := res.Columns, res.Cells
	if cells == nil {
		columns, cells = defaultColumns, defaultCells
	}
	if !opts.noHeaders {
		t.ColumnDefinitions = columns
	}
	t.Rows = make([]metav1.TableRow, 0, len(items))
	for _, it := range items {
		row := metav1.TableRow{Cells: cells(it)}
		var embed runtime.Object
		switch opts.includeObject {
		case metav1.IncludeObject:
			embed = it
		case metav1.IncludeMetadata:
			p, err := partial(it)
			if err != nil {
				return nil, err
			}
			embed = p
		}
		if embed != nil {
			// The JSON encoder writes only the raw bytes of embedded objects.
			raw, err := json.Marshal(embed)
			if err != nil {
				return nil, err
			}
			row.Object.Raw = raw
		}
		t.Rows = append(t.Rows, row)
	}
	return t, nil
}

func defaultCells(obj runtime.Object) []interface{} {
	m, err := meta.Accessor(obj)
	if err != nil {
		return []interface{}{"", ""}
	}
	ts := m.GetCreationTimestamp()
	return []interface{}{m.GetName(), ts.UTC().Format("2006-01-02T15:04:05Z")}
}
