/*
 * libFuzzer driver for the disk-queue record reader: dq_decode over arbitrary bytes, the way
 * recovery walks a segment. Every frame it accepts must re-encode to exactly the same bytes (the
 * format is canonical), and every refusal must come with a message.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dqueue.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_accepted(const uint8_t *frame, size_t flen, const dq_record_t *rec)
{
    if (flen < DQ_HEADER_SIZE + DQ_PAYLOAD_FIXED || dq_frame_size(rec) != flen)
        abort();
    uint8_t *buf = malloc(flen);
    if (buf == NULL || dq_encode(rec, buf, flen) != (int64_t)flen || memcmp(buf, frame, flen) != 0)
        abort();
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t pos = 0;
    while (pos < size) {
        dq_record_t rec;
        size_t flen = 0;
        char msg[128] = "";
        int ret = dq_decode(data + pos, size - pos, &rec, &flen, msg, sizeof(msg));
        if (ret == 0) {
            check_accepted(data + pos, flen, &rec);
            pos += flen;
            continue;
        }
        if ((ret != DQ_ESHORT && ret != DQ_ECORRUPT) || msg[0] == '\0')
            abort();
        if (ret == DQ_ESHORT)
            break;
        pos++; /* look for the next frame, as a repair tool would */
    }
    return 0;
}
