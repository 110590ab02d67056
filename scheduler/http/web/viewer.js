// A three.js view of a GLB file (GLTFLoader + OrbitControls): framed to the model's
// bounds, lit, renders on demand. showGlb(container, arrayBuffer) returns {dispose}.
// The canvas keeps its drawing buffer so that tests (and screenshots) can read pixels.
import * as THREE from 'three';
import { GLTFLoader } from 'three/addons/loaders/GLTFLoader.js';
import { OrbitControls } from 'three/addons/controls/OrbitControls.js';

export function showGlb(container, buffer) {
  const width = Math.max(320, container.clientWidth || 480);
  const height = Math.round(width * 0.66);
  const renderer = new THREE.WebGLRenderer({ antialias: true, preserveDrawingBuffer: true });
  renderer.setPixelRatio(window.devicePixelRatio || 1);
  renderer.setSize(width, height);
  const dark = getComputedStyle(document.documentElement).getPropertyValue('--viewer-bg').trim() || '#20242a';
  renderer.setClearColor(new THREE.Color(dark));
  container.prepend(renderer.domElement);

  const scene = new THREE.Scene();
  scene.add(new THREE.HemisphereLight(0xffffff, 0x444444, 2.0));
  const sun = new THREE.DirectionalLight(0xffffff, 2.0);
  sun.position.set(3, 5, 4);
  scene.add(sun);
  const camera = new THREE.PerspectiveCamera(40, width / height, 0.01, 1000);
  const controls = new OrbitControls(camera, renderer.domElement);
  const draw = () => renderer.render(scene, camera);
  controls.addEventListener('change', draw);

  new GLTFLoader().parse(buffer, '', (gltf) => {
    const model = gltf.scene;
    model.traverse((o) => {
      if (o.isMesh && o.material && !o.geometry.attributes.normal) o.geometry.computeVertexNormals();
    });
    scene.add(model);
    const box = new THREE.Box3().setFromObject(model);
    const size = box.getSize(new THREE.Vector3()).length() || 1;
    const center = box.getCenter(new THREE.Vector3());
    camera.near = size / 100;
    camera.far = size * 100;
    camera.position.copy(center).add(new THREE.Vector3(0.6, 0.45, 0.9).multiplyScalar(size * 1.1));
    camera.updateProjectionMatrix();
    controls.target.copy(center);
    controls.update();
    draw();
    renderer.domElement.dataset.ready = '1';
  }, (error) => {
    container.append(document.createTextNode(`cannot show the GLB: ${error.message || error}`));
  });
  return {
    dispose() {
      controls.dispose();
      renderer.dispose();
    },
  };
}
