/*
 * objstore_int.h - what the object store's files share (objstore.c: the
 * requests; objstore_xml.c: URLs and replies; objstore_cfg.c: the
 * environment and the AWS files).  Not for use outside store/objstore*.
 */
#ifndef LS_OBJSTORE_INT_H
#define LS_OBJSTORE_INT_H

#include <stddef.h>

/* 1 when k[0..n) is a usable key or prefix: 1..OBJSTORE_KEY_MAX-1 bytes,
 * no empty, "." or ".." segment, no control byte. */
int objstore_key_ok(const char *k, size_t n);

/* The text of <root_name><name>TEXT</name></root_name> in an XML reply
 * into buf (cut to cap-1 bytes): 1 when found, else 0 and buf "". */
int objstore_xml_find(const char *xml, size_t n, const char *root_name, const char *name,
		      char *buf, size_t cap);

#endif
