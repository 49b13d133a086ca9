/**
 * NAF schemas of Plexus' networked templates (the `<template>`s live in
 * room.html). NAF syncs the listed components by index (reference/
 * naf-phoenix-client.md §2.2); the server only allows spawns of templates
 * ending in `-avatar` (always) and `-media` (spawn_and_move_media).
 */

/** Template of a person's avatar; the local camera carries it. */
export const AVATAR_TEMPLATE = '#player-avatar';
/** Template of spawned boxes (a "-media" template: needs spawn_and_move_media). */
export const BOX_TEMPLATE = '#box-media';

/**
 * Registers the schemas; call once the templates are in the DOM.
 * - `#player-avatar`: position and rotation of the head (the camera), and
 *   `player-name` (the display name).
 * - `#box-media`: position and rotation.
 */
export function registerNafSchemas(): void {
  NAF.schemas.add({ template: AVATAR_TEMPLATE, components: ['position', 'rotation', 'player-name'] });
  NAF.schemas.add({ template: BOX_TEMPLATE, components: ['position', 'rotation'] });
}
