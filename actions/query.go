package actions

import "net/url"

func parseQuery(q string) (map[string]string, error) {
	v, err := url.ParseQuery(q)
	if err != nil {
		return nil, err
	}
	m := make(map[string]string, len(v))
	for k, vs := range v {
		if len(vs) > 0 {
			m[k] = vs[0]
		}
	}
	return m, nil
}
