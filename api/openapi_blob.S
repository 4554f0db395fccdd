/* openapi_blob.S: openapi.yaml, embedded in the binary as a NUL-terminated string
 * (api_openapi_yaml), so the one file that runs anywhere serves its own contract. */
    .section .rodata
    .global api_openapi_yaml
    .type api_openapi_yaml, @object
api_openapi_yaml:
    .incbin "openapi.yaml"
    .byte 0
    .size api_openapi_yaml, . - api_openapi_yaml
    .section .note.GNU-stack,"",@progbits
