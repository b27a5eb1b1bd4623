module logsentinel.io/pause

go 1.24
