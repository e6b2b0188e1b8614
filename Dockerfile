# GPU image for the MCLN reproduction. The NGC base already holds NVIDIA's TensorFlow 1.15.5
# build for Python 3.8 with CUDA: nothing here may install another TensorFlow over it.
ARG FROM_IMAGE_NAME=nvcr.io/nvidia/tensorflow:23.03-tf1-py3
FROM ${FROM_IMAGE_NAME}

# run.sh honours MCLN_NO_VENV=1 by using this image's python instead of creating a .venv
# (a fresh venv would not see the image's TensorFlow).
ENV MCLN_NO_VENV=1

WORKDIR /workspace/mcln

# Hold numpy at the image's own version: TensorFlow was built against it, so scipy or
# scikit-learn must not upgrade it. These pins (the versions of the Python 3.7 test setup)
# have Python 3.8 wheels and accept any numpy from 1.16.5 to 1.22.
RUN python -c "import numpy; print('numpy==' + numpy.__version__)" > /tmp/keep-numpy.txt \
    && python -m pip install --no-cache-dir --constraint /tmp/keep-numpy.txt \
        scipy==1.7.3 \
        scikit-learn==1.0.2 \
        pytest==8.3.5 \
    && rm /tmp/keep-numpy.txt

COPY . .

CMD ["bash", "run.sh", "demo"]
