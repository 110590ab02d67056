#!/bin/bash
# kiln-tetra@1 probe: which architectures this "environment" runs. A real model would
# print torch.cuda.get_arch_list() here; a bash script runs anywhere we ship for.
echo "kiln-tetra probe: bash ${BASH_VERSION}"
echo "kiln-archs: cpu sm_80 sm_90"
