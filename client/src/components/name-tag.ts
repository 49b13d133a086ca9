/**
 * `name-tag` A-Frame component: a flat text label drawn on a 2D canvas and
 * shown on a plane. Used instead of `<a-text>`, whose fonts A-Frame fetches
 * from its CDN at run time (`https://cdn.aframe.io/fonts/...`), which a
 * self-hosted room server must not depend on; a canvas uses the system font.
 *
 * Schema: `text` (string), `color` (CSS color of the text), `background`
 * (CSS color of the rounded plate, "" for none), `height` (plate height in
 * metres; width follows the 512×96 canvas, 5.33 × height).
 */

/** Canvas size in pixels; the plane keeps this aspect ratio. */
export const NAME_TAG_CANVAS = { width: 512, height: 96 } as const;

interface NameTagData {
  text: string;
  color: string;
  background: string;
  height: number;
}

interface NameTagState {
  canvas: HTMLCanvasElement | null;
  texture: THREE.CanvasTexture | null;
  mesh: THREE.Mesh | null;
  draw(): void;
}

/** Registers the `name-tag` component (call once, after A-Frame loaded). */
export function registerNameTag(): void {
  AFRAME.registerComponent<NameTagData, NameTagState>('name-tag', {
    schema: {
      text: { type: 'string', default: '' },
      color: { type: 'string', default: '#ffffff' },
      background: { type: 'string', default: 'rgba(17, 21, 28, 0.78)' },
      height: { type: 'number', default: 0.16 },
    },
    canvas: null,
    texture: null,
    mesh: null,

    init() {
      this.canvas = document.createElement('canvas');
      this.canvas.width = NAME_TAG_CANVAS.width;
      this.canvas.height = NAME_TAG_CANVAS.height;
      this.texture = new THREE.CanvasTexture(this.canvas);
      this.texture.colorSpace = THREE.SRGBColorSpace;
      const material = new THREE.MeshBasicMaterial({ map: this.texture, transparent: true, depthWrite: false, side: THREE.DoubleSide });
      this.mesh = new THREE.Mesh(new THREE.PlaneGeometry(1, 1), material);
      this.el.setObject3D('name-tag', this.mesh);
    },

    update() {
      const aspect = NAME_TAG_CANVAS.width / NAME_TAG_CANVAS.height;
      this.mesh?.scale.set(this.data.height * aspect, this.data.height, 1);
      this.draw();
    },

    draw() {
      const canvas = this.canvas;
      const ctx = canvas?.getContext('2d');
      if (!canvas || !ctx || !this.texture) return;
      const { width, height } = canvas;
      ctx.clearRect(0, 0, width, height);
      const text = this.data.text;
      if (text) {
        let fontPx = 60;
        ctx.font = `600 ${fontPx}px system-ui, "DejaVu Sans", sans-serif`;
        let textWidth = ctx.measureText(text).width;
        const maxText = width - 48;
        if (textWidth > maxText) {
          fontPx = Math.max(20, Math.floor((fontPx * maxText) / textWidth));
          ctx.font = `600 ${fontPx}px system-ui, "DejaVu Sans", sans-serif`;
          textWidth = ctx.measureText(text).width;
        }
        if (this.data.background) {
          const plateWidth = Math.min(width, textWidth + 44);
          const x = (width - plateWidth) / 2;
          ctx.fillStyle = this.data.background;
          ctx.beginPath();
          ctx.roundRect(x, 4, plateWidth, height - 8, (height - 8) / 2);
          ctx.fill();
        }
        ctx.fillStyle = this.data.color;
        ctx.textAlign = 'center';
        ctx.textBaseline = 'middle';
        ctx.fillText(text, width / 2, height / 2 + 2);
      }
      this.texture.needsUpdate = true;
    },

    remove() {
      this.el.removeObject3D('name-tag');
      this.mesh?.geometry.dispose();
      this.mesh?.material.dispose();
      this.texture?.dispose();
    },
  });
}
