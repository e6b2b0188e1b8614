# GPU image for the MCLN reproduction. The NGC base already holds NVIDIA's TensorFlow 1.15.5
# build for Python 3.8 with CUDA: nothing here may install another TensorFlow over it.
ARG FROM_IMAGE_NAME=nvcr.io/nvidia/tensorflow:23.03-tf1-py3
FROM ${FROM_IMAGE_NAME}

# run.sh honours MCLN_NO_VENV=1 by using this image's python instead of creating a .venv
# (a fresh venv would not see the image's TensorFlow).
ENV MCLN_NO_VENV=1

WORKDIR /workspace/mcln

# Every line of requirements.txt but TensorFlow's and protobuf's (the image's own build
# stays), so that the image cannot miss a package the code imports. numpy is held at the
# image's version: TensorFlow was built against it, so no other package may upgrade it
# (pip then picks the versions that accept it).
COPY requirements.txt /tmp/requirements.txt
RUN python -c "import numpy; print('numpy==' + numpy.__version__)" > /tmp/keep-numpy.txt \
    && grep -v -i -E '^[[:space:]]*(tensorflow|protobuf)([^[:alnum:]._-]|$)' /tmp/requirements.txt \
        > /tmp/requirements-image.txt \
    && python -m pip install --no-cache-dir --constraint /tmp/keep-numpy.txt \
        --requirement /tmp/requirements-image.txt \
    && rm /tmp/keep-numpy.txt /tmp/requirements.txt /tmp/requirements-image.txt

COPY . .

CMD ["bash", "run.sh", "demo"]
