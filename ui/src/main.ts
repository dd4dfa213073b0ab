// First: makes navigator.language usable by Intl before any library reads it.
import "./lib/locale";
import { mount } from "svelte";
import "./styles/global.css";
import App from "./App.svelte";

mount(App, { target: document.getElementById("app")! });
